"""GAN losses against their textbook definitions."""

import pytest
import torch
import torch.nn.functional as F

from igan.gan import losses


def test_ns_losses_are_binary_cross_entropy():
    real, fake = torch.randn(16), torch.randn(16)
    expected = F.binary_cross_entropy_with_logits(real, torch.ones(16)) + F.binary_cross_entropy_with_logits(fake, torch.zeros(16))
    assert torch.allclose(losses.ns_loss_dis(real, fake), expected)
    assert torch.allclose(losses.ns_loss_gen(fake), F.binary_cross_entropy_with_logits(fake, torch.ones(16)))


def test_hinge_losses():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    assert losses.hinge_loss_dis(real, fake).item() == (0 + 0.5) / 2 + (0 + 1) / 2
    assert losses.hinge_loss_gen(fake).item() == 1.5


def test_gradient_penalty_of_a_linear_critic():
    x = torch.randn(4, 3, 8, 8)
    w = torch.randn(3, 8, 8)
    for scale, expected in ((1.0, 0.0), (2.0, 1.0)):
        unit = scale * w / w.norm()
        critic = lambda t: (t * unit).flatten(1).sum(1)  # gradient norm == scale everywhere
        gp = losses.gradient_penalty(critic, x, torch.randn_like(x))
        assert abs(gp.item() - expected) < 1e-5


def test_r1_penalty_of_a_linear_critic():
    w = torch.randn(3, 4, 4)
    critic = lambda t: (t * w).flatten(1).sum(1)
    real = torch.randn(5, 3, 4, 4, requires_grad=True)
    assert torch.allclose(losses.r1_penalty(critic(real), real), 0.5 * w.pow(2).sum())


# Penalties of a non-linear critic against central finite differences, in float64.

def tanh_critic(weight: torch.Tensor, bias: torch.Tensor):
    """critic(x) = sum_j tanh((W x + b)_j) per sample: its input gradient varies with x."""
    return lambda x: torch.tanh(x.flatten(1) @ weight.T + bias).sum(dim=1)


def finite_difference_input_gradients(critic, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """d critic(x_i) / d x_i for every sample i by central differences (samples are independent)."""
    grads = torch.zeros_like(x)
    flat, gflat = x.view(x.shape[0], -1), grads.view(x.shape[0], -1)
    for k in range(flat.shape[1]):
        plus, minus = flat.clone(), flat.clone()
        plus[:, k] += eps
        minus[:, k] -= eps
        gflat[:, k] = (critic(plus.view_as(x)) - critic(minus.view_as(x))) / (2 * eps)
    return grads


def fd_parameter_gradient(value_of, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """d value_of() / d weight by central differences, perturbing ``weight`` in place."""
    grad = torch.zeros_like(weight)
    for k in range(weight.numel()):
        w = weight.view(-1)
        old = w[k].item()
        w[k] = old + eps
        plus = value_of()
        w[k] = old - eps
        minus = value_of()
        w[k] = old
        grad.view(-1)[k] = (plus - minus) / (2 * eps)
    return grad


@pytest.fixture
def critic_setup():
    gen = torch.Generator().manual_seed(0)
    shape = (3, 2, 3, 3)
    real = torch.randn(shape, generator=gen, dtype=torch.float64)
    fake = torch.randn(shape, generator=gen, dtype=torch.float64)
    weight = torch.randn(5, 18, generator=gen, dtype=torch.float64)
    bias = torch.randn(5, generator=gen, dtype=torch.float64)
    alpha = torch.tensor([0.1, 0.5, 0.85], dtype=torch.float64).view(3, 1, 1, 1)
    return real, fake, weight, bias, alpha


def test_gradient_penalty_of_a_nonlinear_critic_against_finite_differences(critic_setup, monkeypatch):
    real, fake, weight, bias, alpha = critic_setup
    monkeypatch.setattr(torch, "rand", lambda *shape, **kw: alpha.to(kw.get("dtype") or alpha.dtype))
    x_hat = alpha * real + (1 - alpha) * fake
    grads = finite_difference_input_gradients(tanh_critic(weight, bias), x_hat)
    norms = grads.flatten(1).norm(dim=1)
    assert norms.min() > 0.2 and (norms - 1).abs().min() > 0.05  # a penalty with nonzero terms, varied norms
    expected = ((norms - 1) ** 2).mean()
    w = weight.clone().requires_grad_(True)
    gp = losses.gradient_penalty(tanh_critic(w, bias), real, fake)
    assert gp.dtype == torch.float64
    assert torch.allclose(gp, expected, rtol=1e-7, atol=0)
    # The penalty is differentiable in the critic's weights (create_graph): what trains D.
    (autograd_dw,) = torch.autograd.grad(gp, w)

    def penalty_value():
        return losses.gradient_penalty(tanh_critic(weight, bias), real, fake).item()

    assert torch.allclose(autograd_dw, fd_parameter_gradient(penalty_value, weight), rtol=1e-5, atol=1e-8)


def test_r1_penalty_of_a_nonlinear_critic_against_finite_differences(critic_setup):
    real, _, weight, bias, _ = critic_setup
    grads = finite_difference_input_gradients(tanh_critic(weight, bias), real)
    expected = 0.5 * grads.flatten(1).pow(2).sum(dim=1).mean()
    w = weight.clone().requires_grad_(True)
    x = real.clone().requires_grad_(True)
    r1 = losses.r1_penalty(tanh_critic(w, bias)(x), x)
    assert torch.allclose(r1, expected, rtol=1e-7, atol=0)
    (autograd_dw,) = torch.autograd.grad(r1, w)

    def penalty_value():
        x = real.clone().requires_grad_(True)
        return losses.r1_penalty(tanh_critic(weight, bias)(x), x).item()

    assert torch.allclose(autograd_dw, fd_parameter_gradient(penalty_value, weight), rtol=1e-5, atol=1e-8)
