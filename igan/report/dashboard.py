"""The W&B workspace that compares a study's models: one line per model with its band over seeds.

``igan dashboard [--project igan] [--entity E] [--group G] [--group-by KEY] [--band minmax]``
builds, with the ``wandb-workspaces`` package, a workspace whose runs (all of the project's, or
those of W&B group G) are grouped by the config key KEY (default ``label``, the model label a
study gives its runs; online, when no run has it, the generator class
``model.generator.class_path``), so every model is one mean line with a band over its seeds:

- FID, KID, recall and coverage against ``epoch``; distinct_nn (the collapse measure), precision,
  density and diversity beside them;
- the discriminator and generator losses against ``epoch``;
- the fixed-noise ``samples`` grids as a media grid: runs down, logged grids (one per epoch) across.

Online (``WANDB_MODE=online`` and a W&B key that the server accepts) it saves the workspace and
prints its URL. Otherwise (offline is the default) it says why in one line and prints what it would
create; nothing touches the network then.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Iterable, Optional

from igan.errors import ArgumentParser, IganError, UsageError

#: Config key the study writes (the model label); grouped by when the runs carry it.
LABEL_KEY = "label"
#: Config key every training run carries: grouped by when no run has a label.
FALLBACK_KEY = "model.generator.class_path"
X_AXIS = "epoch"
#: How W&B draws a group's spread around its mean line.
BANDS = {"minmax": "min to max", "stddev": "mean +- sd", "stderr": "mean +- standard error"}
#: Sections of line panels: (title, W&B metric keys, open when the workspace loads).
LINE_SECTIONS = (
    ("FID, KID, recall, coverage", ("metrics/fid", "metrics/kid", "metrics/recall", "metrics/coverage"), True),
    ("Distinct NN, precision, density, diversity",
     ("metrics/distinct_nn", "metrics/precision", "metrics/density", "metrics/diversity"), True),
    ("Losses", ("train/d_loss", "train/g_loss"), False),
)
SAMPLES_SECTION = "Samples"
SAMPLES_KEY = "samples"
#: Runs a panel draws: a 3-model x several-seed study stays within it.
MAX_RUNS = 50
#: Characters W&B does not allow in a project name.
PROJECT_FORBIDDEN = set('/\\#?%:')


def workspace_name(group: Optional[str]) -> str:
    return f"igan comparison ({group})" if group else "igan comparison"


def build_workspace(project: str, entity: str, group: Optional[str] = None, group_by: str = LABEL_KEY,
                    band: str = "minmax"):
    """The comparison workspace as the library's own objects (a ``wandb_workspaces`` Workspace)."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws
    from wandb_workspaces import expr

    def line(metric: str):
        return wr.LinePlot(title=metric, x=X_AXIS, y=[metric], groupby=wr.Config(group_by),
                           groupby_aggfunc="mean", groupby_rangefunc=band, max_runs_to_show=MAX_RUNS)

    def section(name: str, panels: list, is_open: bool):
        return ws.Section(name=name, panels=panels, is_open=is_open,
                          panel_settings=ws.SectionPanelSettings(x_axis=X_AXIS))

    sections = [section(title, [line(metric) for metric in metrics], is_open)
                for title, metrics, is_open in LINE_SECTIONS]
    # W&B's media grid steps through the logged grids; SampleGrid logs one per epoch, captioned "epoch N".
    samples = wr.MediaBrowser(title="samples: runs down, epochs across", media_keys=[SAMPLES_KEY], mode="grid",
                              grid_x_axis="step", grid_y_axis="run")
    sections.append(section(SAMPLES_SECTION, [samples], True))
    return ws.Workspace(
        entity=entity, project=project, name=workspace_name(group), sections=sections,
        settings=ws.WorkspaceSettings(x_axis=X_AXIS, max_runs=MAX_RUNS),
        runset_settings=ws.RunsetSettings(groupby=[expr.Config(group_by)],
                                          filters=[expr.Metric("Group") == group] if group else ""),
    )


def describe(workspace, band: str) -> str:
    """What the workspace holds, as readable lines: its sections, panels, x-axis and grouping."""
    import wandb_workspaces.reports.v2 as wr

    runs = workspace.runset_settings
    groupby = ", ".join(f"config {key.name!r}" for key in runs.groupby) or "nothing"
    shown = f"those where {runs.filters}" if runs.filters else "all runs of the project"
    lines = [f"workspace {workspace.name!r} in {workspace.entity}/{workspace.project}",
             (f"  runs: {shown}; grouped by {groupby}: "
              f"one mean line per group, band {BANDS[band]} over its runs"),
             f"  x-axis: {workspace.settings.x_axis}"]
    for section in workspace.sections:
        lines.append(f"  section {section.name!r}{' (open)' if section.is_open else ''}")
        for panel in section.panels:
            if isinstance(panel, wr.LinePlot):
                lines.append(f"    line plot: {', '.join(map(str, panel.y))} against {panel.x}")
            elif isinstance(panel, wr.MediaBrowser):
                lines.append(f"    media grid: {', '.join(panel.media_keys)}, rows = {panel.grid_y_axis}, "
                             f"columns = logged {panel.grid_x_axis} (one grid per epoch)")
            else:
                lines.append(f"    {type(panel).__name__}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- online

def config_has(config: dict, dotted: str) -> bool:
    """Whether a run's config (nested dicts, as W&B's API returns it) has the key ``a.b.c``."""
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return node is not None


def choose_group_key(requested: Optional[str], configs: Iterable[dict]) -> str:
    """The key asked for; without one, ``label`` if any run carries it, else the generator class."""
    if requested:
        return requested
    configs = list(configs)
    if not configs or any(config_has(config, LABEL_KEY) for config in configs):
        return LABEL_KEY
    return FALLBACK_KEY


def save_online(project: str, entity: Optional[str], group: Optional[str], requested_key: Optional[str],
                band: str) -> int:
    import wandb

    api = wandb.Api()
    entity = entity or api.default_entity
    if not entity:
        raise IganError("W&B knows no default entity for this key: pass --entity")
    configs = [run.config for run in api.runs(f"{entity}/{project}", filters={"group": group} if group else None)]
    if not configs:
        print(f"warning: no runs in {entity}/{project}{f' group {group!r}' if group else ''} yet; "
              "the workspace fills as they log", file=sys.stderr)
    group_by = choose_group_key(requested_key, configs)
    workspace = build_workspace(project, entity, group, group_by, band)
    print(describe(workspace, band))
    workspace.save()
    print(workspace.url)
    return 0


# --------------------------------------------------------------------------- command line

def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="igan dashboard", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", default="igan", help="W&B project of the runs (default igan)")
    parser.add_argument("--entity", help="W&B user or team (default: the key's default entity)")
    parser.add_argument("--group", help="only the runs of this W&B group (a study's --group)")
    parser.add_argument("--group-by", dest="group_by", metavar="KEY",
                        help=f"config key whose value names a run's model (default {LABEL_KEY!r}, "
                             f"or {FALLBACK_KEY!r} when no run has it)")
    parser.add_argument("--band", choices=sorted(BANDS), default="minmax",
                        help="spread drawn around each model's mean line (default minmax)")
    return parser


def check_args(args: argparse.Namespace) -> None:
    if not args.project.strip() or PROJECT_FORBIDDEN & set(args.project):
        raise UsageError(f"--project {args.project!r} is not a W&B project name "
                         f"(non-empty, none of {' '.join(sorted(PROJECT_FORBIDDEN))})")
    for flag, value in (("--entity", args.entity), ("--group", args.group), ("--group-by", args.group_by)):
        if value is not None and not value.strip():
            raise UsageError(f"{flag} must not be empty")
    if args.group_by is not None and any(not part for part in args.group_by.split(".")):
        raise UsageError(f"--group-by {args.group_by!r} is not a config key (like label or model.generator.class_path)")


def offline_reason() -> Optional[str]:
    """Why the workspace is not saved, or None when W&B is online and answers."""
    mode = os.environ.get("WANDB_MODE", "offline")
    if mode not in ("online", "run"):
        return f"W&B is offline (WANDB_MODE={mode})"
    from igan.training.wandb_logging import online_problem

    problem = online_problem()
    return f"W&B is unavailable: {problem}" if problem else None


def main(argv: Optional[list[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        check_args(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    reason = offline_reason()
    if reason is None:
        import requests
        import wandb

        try:
            return save_online(args.project, args.entity, args.group, args.group_by, args.band)
        except IganError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        except (wandb.errors.Error, requests.RequestException, ValueError) as err:  # refused: unknown entity, rights
            message = str(err).strip().splitlines()
            print(f"error: W&B did not save the workspace ({type(err).__name__}"
                  f"{': ' + message[0] if message else ''})", file=sys.stderr)
            return 1
    group_by = args.group_by or LABEL_KEY
    workspace = build_workspace(args.project, args.entity or "<your default entity>", args.group, group_by, args.band)
    print(f"{reason}: nothing saved. Online (WANDB_MODE=online, `wandb login`) this would create:")
    print(describe(workspace, args.band))
    if not args.group_by:
        print(f"  (online, when no run has config {LABEL_KEY!r}: grouped by config {FALLBACK_KEY!r})")
    return 0
