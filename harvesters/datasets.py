"""One source, one or several portal datasets.

Most sources feed one dataset: the config's. Some feed several: a web page
whose files are each their own dataset (web_page ``each_file_dataset``), or an
agency catalog whose datasets are copied one by one (ckan_catalog). Their
gather marks each file with a ``DatasetTarget``. This module groups a run's
files by dataset and gives each dataset its effective config: the source's
config with the dataset's name, title and metadata laid over it, so
publishing, mapping and approval stay written for one dataset at a time.

Each dataset is published, approved or held back on its own: a file that
failed to convert, or a table its suite blocked, holds back only its dataset.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from .config import ID_RE, SourceConfig
from .errors import FinalError
from .gdc import fields as gdc
from .gdc import profiles
from .gdc.intake import remote_metadata
from .gdc.model import DERIVED, intake_model
from .results import ConvertedFile, DatasetGroup, FetchedFile, RemoteFile, ValidationSummary

log = logging.getLogger(__name__)


def group_files(cfg: SourceConfig, remotes: list[RemoteFile]) -> list[DatasetGroup]:
    """The run's datasets, in the order gather found them, each with the keys of its files."""
    groups: dict[str, DatasetGroup] = {}
    for remote in remotes:
        name = remote.dataset.name if remote.dataset else cfg.dataset_name
        group = groups.setdefault(name, DatasetGroup(name=name, target=remote.dataset, files=[]))
        group.files.append(remote.key)
    return list(groups.values())


def config_for(cfg: SourceConfig, group: DatasetGroup) -> SourceConfig:
    """The config as it applies to one dataset: its name, title and metadata over the source's."""
    target = group.target
    if target is None:
        return cfg
    if not ID_RE.match(target.name):
        raise FinalError(f"dataset name {target.name!r} is not a portal URL name (2–70 lower-case ASCII letters, "
                         "digits, '-' or '_')", source=cfg.id, file=target.origin)
    # The agency's metadata, liberally: only what the target portal would refuse holds the dataset back.
    profile = profiles.active()
    remote, notes = remote_metadata(target.metadata, profile, skip=DERIVED)
    for note in notes:
        log.info("%s: dataset %s: %s", cfg.id, target.name, note)
    merged = cfg.metadata.model_dump(exclude_none=True)
    merged.update(remote)
    if target.title:
        merged["title"] = target.title
    # The source's own fields are defaults; drop those that do not belong to the dataset's data type
    # (an agency catalog's record dataset must not inherit a statistical config's year fields).
    data_type = merged.get("data_type")
    for name in list(merged):
        field = gdc.BY_NAME.get(name.removesuffix("_other"))
        if field and name not in remote and data_type not in field.data_types:
            del merged[name]
    merged = {k: v for k, v in merged.items() if k == "tags" or profile.has(k)}
    try:
        metadata = intake_model(profile.name).model_validate(merged)
    except ValidationError as exc:  # say which fields, with their Thai labels
        problems = "; ".join(f"{gdc.label(str(e['loc'][0])) if e['loc'] else 'metadata'}: "
                             f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        raise FinalError(f"dataset {target.name}: its metadata does not fit the target portal "
                         f"({profile.name}): {problems}", source=cfg.id, file=target.origin) from None
    return cfg.model_copy(update={"dataset": target.name, "metadata": metadata})


def left_alone(group: DatasetGroup, fetched: list[FetchedFile]) -> list[FetchedFile]:
    """This dataset's files that this run does not convert (unchanged or deferred), as fetch reported them."""
    wanted = set(group.files)
    return [f for f in fetched if f.remote.key in wanted and not f.to_convert]


def select(group: DatasetGroup, converted: list[ConvertedFile], summaries: list[ValidationSummary],
           unchanged: list[FetchedFile] = ()) -> tuple[list[ConvertedFile], list[ValidationSummary]]:
    """This dataset's converted files and validation results. Raises when any of its files fell out.

    Upstream tasks that failed leave no result, so a file missing here failed to
    fetch or convert, and a table without a validation result was blocked by
    its suite; publishing part of a dataset would drop resources people rely on.
    Files found unchanged (``left_alone``) are accounted for: they stay as they are.
    """
    wanted = set(group.files)
    files = [c for c in converted if c.fetched.remote.key in wanted]
    by_table = {s.table: s for s in summaries}
    tables = {t.key for c in files for t in c.tables}
    lost = sorted(wanted - {c.fetched.remote.key for c in files} - {f.remote.key for f in unchanged})
    blocked = sorted(c.fetched.remote.key for c in files if any(t.key not in by_table for t in c.tables))
    if lost or blocked:
        why = ([f"not converted (see its fetch/convert task): {', '.join(lost)}"] if lost else []) + \
              ([f"validation failed (see its validate task): {', '.join(blocked)}"] if blocked else [])
        raise FinalError(f"dataset {group.name} held back, nothing of it changed on the portal: "
                         + "; ".join(why),
                         hint="deal with each file named above (the last lines of its own failed task say how); "
                              "the dataset is published whole on the next run where all its files pass")
    return files, [by_table[k] for k in sorted(tables)]
