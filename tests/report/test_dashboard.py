"""The comparison workspace of ``igan dashboard``, checked offline on wandb-workspaces' own objects.

The workspace is built with the real library and serialized to the view spec that ``save()`` would
send, so the checks see what W&B would store: x-axis, grouping keys, panels. Nothing reaches a network.
"""

import os
import subprocess
import sys

import pytest
import wandb_workspaces.reports.v2 as wr
import wandb_workspaces.workspaces as ws
from conftest import REPO

from igan.report.dashboard import FALLBACK_KEY, LABEL_KEY, build_workspace, choose_group_key, main

HEADLINE = ["metrics/fid", "metrics/kid", "metrics/recall", "metrics/coverage"]


def spec_sections(workspace):
    """The sections as saved: the wire model of the library's Workspace."""
    return workspace._to_model().spec.section.panel_bank_config.sections


def test_every_metric_is_a_mean_line_with_a_band_per_model_against_epoch():
    workspace = build_workspace("igan", "me", group="study-a", band="stddev")
    assert isinstance(workspace, ws.Workspace)
    lines = [p for s in workspace.sections for p in s.panels if isinstance(p, wr.LinePlot)]
    assert [p.y for p in lines] == [[m] for m in HEADLINE + ["metrics/distinct_nn", "metrics/precision", "metrics/density",
                                                             "metrics/diversity", "train/d_loss", "train/g_loss"]]
    assert workspace.sections[0].name == "FID, KID, recall, coverage" and workspace.sections[0].is_open
    assert workspace.settings.x_axis == "epoch"
    assert [key.name for key in workspace.runset_settings.groupby] == [LABEL_KEY]
    for panel in lines:
        assert (panel.x, panel.groupby.name, panel.groupby_aggfunc, panel.groupby_rangefunc) == \
            ("epoch", LABEL_KEY, "mean", "stddev")

    view = workspace._to_model()
    settings = view.spec.section.settings
    assert (settings.x_axis, settings.x_axis_active) == ("epoch", True)
    (runset,) = view.spec.section.run_sets
    assert [(k.section, k.name) for k in runset.grouping] == [("config", "label.value")]
    assert runset.filters["filters"][0]["key"] == {"section": "run", "name": "group"}
    assert runset.filters["filters"][0]["value"] == "study-a"
    for section in spec_sections(workspace):
        assert section.local_panel_settings.x_axis == "epoch"
        for panel in section.panels:
            if panel.view_type == "Run History Line Plot":
                assert (panel.config.x_axis, panel.config.group_by, panel.config.group_agg, panel.config.group_area,
                        panel.config.aggregate) == ("epoch", "label.value", "mean", "stddev", True)


def test_samples_are_a_media_grid_of_runs_by_logged_epoch():
    workspace = build_workspace("igan", "me")
    (media,) = [p for s in spec_sections(workspace) for p in s.panels if p.view_type == "Media Browser"]
    assert media.config.media_keys == ["samples"] and media.config.mode == "grid"
    assert (media.config.grid_settings.x_axis, media.config.grid_settings.y_axis) == ("step", "run")


def test_without_a_group_every_run_of_the_project_is_shown():
    (runset,) = build_workspace("igan", "me")._to_model().spec.section.run_sets
    assert runset.filters["filters"] == []


def test_grouping_falls_back_to_the_generator_class_when_no_run_has_a_label():
    dcgan = {"model": {"generator": {"class_path": "igan.models.DCGANGenerator"}}}
    labelled = {**dcgan, "label": "dcgan"}
    assert choose_group_key(None, [dcgan, dcgan]) == FALLBACK_KEY
    assert choose_group_key(None, [dcgan, labelled]) == LABEL_KEY
    assert choose_group_key(None, []) == LABEL_KEY  # no runs yet: the study's key, filled as they log
    assert choose_group_key("seed_everything", [dcgan]) == "seed_everything"

    workspace = build_workspace("igan", "me", group_by=FALLBACK_KEY)
    # Training logs its config as nested dicts, which W&B stores under model.value.generator...
    (runset,) = workspace._to_model().spec.section.run_sets
    assert runset.grouping[0].name == "model.value.generator.class_path"
    assert spec_sections(workspace)[0].panels[0].config.group_by == "model.value.generator.class_path"
    # ... and the library reads the saved spec back as the same config key.
    reloaded = ws.Workspace._from_model(workspace._to_model())
    assert [key.name for key in reloaded.runset_settings.groupby] == [FALLBACK_KEY]


def test_offline_says_so_and_prints_what_it_would_create(monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise AssertionError("offline must not probe W&B")

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setattr("igan.training.wandb_logging.online_problem", no_network)
    assert main(["--project", "igan", "--entity", "team", "--group", "study-a"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("W&B is offline (WANDB_MODE=offline): nothing saved.")
    assert lines[1] == "workspace 'igan comparison (study-a)' in team/igan"
    assert "grouped by config 'label': one mean line per group, band min to max over its runs" in lines[2]
    assert "'study-a'" in lines[2] and lines[3] == "  x-axis: epoch"
    for metric in HEADLINE + ["train/d_loss", "train/g_loss"]:
        assert f"    line plot: {metric} against epoch" in lines
    assert any(line.startswith("    media grid: samples, rows = run, columns = logged step") for line in lines)
    assert f"grouped by config '{FALLBACK_KEY}'" in lines[-1]
    assert err == ""


def test_online_without_credentials_falls_back_to_the_printout(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc from `wandb login`
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # were it asked, a closed local port
    for name in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--group-by", "model.generator.class_path"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("W&B is unavailable: not logged in")
    assert "grouped by config 'model.generator.class_path'" in lines[2]
    assert "online, when no run" not in lines[-1]  # the key was given: no fallback to announce


@pytest.mark.parametrize("argv", [
    ["--band", "widest"], ["--project", "a/b"], ["--project", " "], ["--group", ""], ["--entity", ""],
    ["--group-by", "model..class_path"], ["--frobnicate"], ["extra"],
])
def test_bad_arguments_are_one_error_line_and_exit_2(argv, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ")


def test_the_module_command_runs_offline():
    result = subprocess.run([sys.executable, "-m", "igan", "dashboard", "--group", "study-a"], cwd=REPO,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "WANDB_MODE": "offline"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("W&B is offline")
    assert "workspace 'igan comparison (study-a)' in <your default entity>/igan" in result.stdout
