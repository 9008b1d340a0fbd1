"""W&B for training runs: offline by default, online only when W&B answers, and one ``epoch`` axis."""

from __future__ import annotations

import os
import sys
import time
from typing import Optional

from lightning.pytorch.loggers import WandbLogger


class EpochAxisWandbLogger(WandbLogger):
    """WandbLogger whose ``epoch`` is epochs completed, the one meaning used everywhere in igan.

    Lightning adds ``epoch`` = the epoch in progress (0 during the first) to every scalar, while
    grids and metrics after the first epoch belong at ``epoch`` 1. Scalars get the module's
    fractional progress instead (0.5 = half of the first epoch done), so losses, grids and FID line
    up on one x-axis.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.progress_source = None  # an object with ``epochs_completed``, set by the CLI

    def log_metrics(self, metrics, step=None) -> None:
        if "epoch" in metrics and self.progress_source is not None:
            metrics = {**metrics, "epoch": float(self.progress_source.epochs_completed)}
        super().log_metrics(metrics, step)

    def define_epoch_axis(self) -> None:
        """Make ``epoch`` the default x-axis of every panel of the run."""
        self.experiment.define_metric("epoch")
        for pattern in ("train/*", "metrics/*", "samples", "kernel_maps"):
            self.experiment.define_metric(pattern, step_metric="epoch")


#: Seconds the W&B reachability check may take before the run falls back to offline logging.
WANDB_PROBE_TIMEOUT = 10.0


def online_problem(timeout: float = WANDB_PROBE_TIMEOUT) -> Optional[str]:
    """Why W&B cannot log online right now (no credentials, server unreachable, key rejected), or None.

    One GraphQL ``viewer`` query with a short timeout: wandb.init itself retries for minutes.
    """
    import requests

    base = (os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").rstrip("/")
    key = os.environ.get("WANDB_API_KEY")
    if not key and not os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        netrc = requests.utils.get_netrc_auth(base)  # where `wandb login` stores the key
        key = netrc[1] if netrc else None
        if not key:
            return "not logged in (no WANDB_API_KEY and no `wandb login`)"
    try:
        response = requests.post(f"{base}/graphql", json={"query": "query { viewer { id } }"},
                                 auth=("api", key) if key else None, timeout=(min(5.0, timeout), timeout))
    except requests.RequestException as err:
        return f"cannot reach {base} ({type(err).__name__})"
    if response.status_code in (401, 403):
        return f"{base} rejected the API key (HTTP {response.status_code})"
    if response.status_code >= 400:
        return f"{base} answered HTTP {response.status_code}"
    return None


def choose_mode() -> None:
    """Offline unless WANDB_MODE says otherwise; online only when W&B answers, else offline with one warning."""
    mode = os.environ.setdefault("WANDB_MODE", "offline")
    if mode not in ("online", "run"):
        return
    problem = online_problem()
    if problem:
        os.environ["WANDB_MODE"] = "offline"
        print(f"warning: W&B is unavailable: {problem}; logging offline instead "
              "(upload later with: wandb sync <run dir>)", file=sys.stderr, flush=True)


def failed_online(err: BaseException) -> bool:
    """True for an error of wandb in online mode, after switching to offline with one warning."""
    if not type(err).__module__.startswith("wandb") or os.environ.get("WANDB_MODE") not in ("online", "run"):
        return False
    print(f"warning: W&B failed to start online ({type(err).__name__}: {str(err).splitlines()[0]}); "
          "logging offline instead (upload later with: wandb sync <run dir>)", file=sys.stderr, flush=True)
    os.environ["WANDB_MODE"] = "offline"
    if wandb_run := sys.modules["wandb"].run:
        wandb_run.finish()
    return True


#: How long a resumed run waits for the W&B service of a killed process to let go of the run id.
RUN_ID_WAIT_SECONDS = 30.0


def run_id_in_use(err: BaseException) -> bool:
    """Whether wandb refused to start because another process still holds the run id."""
    return type(err).__module__.startswith("wandb") and "is in use" in str(err)


def wait_if_run_id_in_use(err: BaseException, waited: float) -> bool:
    """True after a pause when wandb refused the run id as in use and the wait budget is not spent.

    A run killed with SIGKILL leaves its W&B service process behind for a few seconds; resuming at
    once (``--ckpt_path=last``, a study re-run) asks for the same run id and is refused until it exits.
    """
    if not run_id_in_use(err) or waited >= RUN_ID_WAIT_SECONDS:
        return False
    print(f"warning: the W&B run id is still held by a stopped process; retrying in 5 s ({str(err).splitlines()[0]})",
          file=sys.stderr, flush=True)
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.run.finish()
    time.sleep(5.0)
    return True
