"""Which source configs each DAG file renders, and what keeps parsing cheap at national scale.

Measured before this module (1,000 copies of a demo config, one DAG file; how the DAGs are now
built more cheaply is in docs/scale.md, "Parsing: the design and why"): half the parse was
PyYAML (pure Python, ~3 ms a file, and every ``_agency.yaml`` read again per source), half was
Airflow building the DAGs (~3-5 ms each: eight operators, two mapped task groups); pydantic and
the DAG docs were noise. So at 10,000 sources one file needed minutes, far past Airflow's 30 s
``dagbag_import_timeout``, and each task start loaded every config to build one DAG.

The design follows Airflow's own guides ("Dynamic DAG generation", "Best practices: top-level
code"):

- **A fixed set of small, static DAG files** (``dags/harvest_sources_NN.py``), each rendering
  the sources whose path (``agency/file.yaml``) hashes to it. Building a DAG is Airflow's own cost
  and cannot be cached, so it is spread over 16 files: each stays well under the import timeout
  (about 625 sources each at 10,000; 8 files measured ~30 s a file there on this busy 2-core
  machine) and the DAG processor's parsing processes parse files side by side. Each file costs a
  fixed ~0.1-0.2 s of imports per parse, which is why there are not more. The files are committed, not generated: a new source or agency needs no generation
  step, and nothing writes code into the DAG folder. (One file per agency would need a file
  generated for every new agency, and agencies range from one source to hundreds.)
- **A content-keyed cache of the parsed YAML**, one per shard, keyed on each file's
  (mtime_ns, size) and on the loader's own code: a changed, added or removed file is read
  again, so a stale cache never shows a stale DAG. Merging agency defaults, ``${VAR}``
  interpolation and validation still run on every parse (they depend on the environment and
  cost little), through ``config.load_all``, so every config rule keeps one home. Results that
  JSON cannot carry unchanged (e.g. YAML dates) are simply not cached.
- **An index from DAG id to config file** per shard, written by each full parse. A task
  starting on a worker sets ``get_parsing_context().dag_id``: the DAG file reads the index, then
  reads and checks that one config (afresh, never from the cache). If that does not render the
  wanted DAG (no index yet, or it is outdated) the whole shard is rendered: slower, never wrong.
- **Ids stay unique across shards.** Within a shard ``load_all`` finds duplicates; across shards
  each parse reads the other shards' published ids and, for a colliding id, checks that the
  other file still declares it. As in ``load_all`` the file sorted first keeps the id and the
  other becomes an error DAG. A duplicate created by editing a file of another shard is seen
  once that shard has parsed again (one parse interval).

The cache lives in ``$HARVEST_INDEX_DIR`` or ``<staging dir>/_source_index`` (the staging store is
shared by every worker in production), one folder per sources folder. If it cannot be written
parsing carries on without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zlib
from pathlib import Path, PurePosixPath

from . import config
from .errors import ConfigError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


def shard_of(rel: str, shards: int) -> int:
    """The shard of a config, by a stable hash of its path relative to the sources folder."""
    return zlib.crc32(rel.encode("utf-8")) % shards


def cache_root(sources_dir: Path) -> Path:
    base = os.environ.get("HARVEST_INDEX_DIR")
    if base:
        root = Path(base)
    else:
        from .settings import Settings

        root = Settings.from_env().staging_dir / "_source_index"  # source ids cannot start with "_"
    return root / hashlib.sha1(str(Path(sources_dir).resolve()).encode()).hexdigest()[:12]


def _stamp(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def _loader_version() -> str:
    # A change to the loading code voids every cached result: the cache holds what that code would read now.
    return f"{CACHE_FORMAT}:{_stamp(Path(config.__file__))}"


def _copy(raw: dict) -> dict:
    """A deep copy through JSON: several times faster than copy.deepcopy, and what a cached result must survive."""
    return json.loads(json.dumps(raw))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict) -> None:
    """Write whole or not at all (readers in other processes never see half a file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
        os.chmod(tmp, 0o644)  # workers may run as another user than the DAG processor
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("source index: cannot write %s (%s); parsing goes on without the cache", path, exc)


class Shard:
    """The configs of one DAG file: loading them through the cache, and finding one by DAG id."""

    def __init__(self, sources_dir: Path, shard: int, shards: int, root: Path | None = None):
        if not 0 <= shard < shards:
            raise ValueError(f"shard {shard} is not in 0..{shards - 1}")
        self.sources_dir = Path(sources_dir)
        self.shard, self.shards = shard, shards
        self.root = root or cache_root(self.sources_dir)
        self._cached: dict[str, dict] = {}   # rel -> {"stamp", "raw"} as last saved
        self._fresh: dict[str, dict] = {}    # what this parse read or confirmed

    @property
    def cache_file(self) -> Path:
        return self.root / f"shard-{self.shard}-of-{self.shards}.yaml.json"

    def ids_file(self, shard: int | None = None) -> Path:
        return self.root / f"shard-{self.shard if shard is None else shard}-of-{self.shards}.ids.json"

    def rel(self, path: Path) -> str:
        return Path(path).relative_to(self.sources_dir).as_posix()

    def paths(self) -> list[Path]:
        """This shard's config files, sorted."""
        return [self.sources_dir / rel for rel in config.discover_relative(self.sources_dir)
                if shard_of(rel, self.shards) == self.shard]

    # -- full parse -------------------------------------------------------------------------------------

    def load(self) -> tuple[list[config.LoadedSource], list[ConfigError]]:
        """Every config of this shard, as ``config.load_all`` gives them, with YAML from the cache when unchanged."""
        cached = _read_json(self.cache_file)
        self._cached = cached.get("files", {}) if cached.get("version") == _loader_version() else {}
        loaded, errors = config.load_all(self.sources_dir, self.paths(), read_yaml=self.read_yaml)
        return self._drop_foreign_duplicates(loaded, errors)

    def read_yaml(self, path: Path) -> dict:
        rel = self.rel(path)
        stamp = _stamp(path)
        hit = self._fresh.get(rel) or self._cached.get(rel)
        if hit is not None and stamp is not None and hit["stamp"] == stamp:
            self._fresh[rel] = hit
            return _copy(hit["raw"])  # the loader may change what it is given
        raw = config._read_yaml(path)  # raises ConfigError: a broken file is read again next time
        try:
            if _copy(raw) == raw:
                self._fresh[rel] = {"stamp": stamp, "raw": _copy(raw)}
        except (TypeError, ValueError):
            pass  # e.g. a YAML date: JSON would change it, so this file is read every time
        return raw

    def _drop_foreign_duplicates(self, loaded, errors):
        foreign: dict[str, list] = {}
        for shard in range(self.shards):
            if shard != self.shard:
                foreign.update(_read_json(self.ids_file(shard)).get("ids", {}))
        kept = []
        for source in loaded:
            other = foreign.get(source.config.id)
            if other and PurePosixPath(other[0]).parts < PurePosixPath(self.rel(source.path)).parts \
                    and self._still_declares(other, source.config.id):
                errors.append(config.duplicate_id(source.path, source.config.id, self.sources_dir / other[0]))
            else:
                kept.append(source)
        return kept, errors

    def _still_declares(self, entry: list, source_id: str) -> bool:
        rel, stamp = entry
        path = self.sources_dir / rel
        if shard_of(rel, self.shards) == self.shard:
            return False  # our own file: load_all has judged it
        if stamp is not None and _stamp(path) == stamp:
            return True
        try:
            return config.load_source(path, self.sources_dir).config.id == source_id
        except ConfigError:
            return False

    def save(self, rendered: dict[str, Path]) -> None:
        """Keep this parse's YAML and its DAG ids (``{dag_id: config file}``) for the next parse and for workers."""
        if self._fresh != self._cached:
            _write_json(self.cache_file, {"version": _loader_version(), "files": self._fresh})
        ids = {dag_id: [self.rel(path), _stamp(path)] for dag_id, path in sorted(rendered.items())}
        if _read_json(self.ids_file()).get("ids") != json.loads(json.dumps(ids)):
            _write_json(self.ids_file(), {"ids": ids})

    # -- one DAG, on a worker ---------------------------------------------------------------------------

    def index(self) -> dict[str, Path] | None:
        """``{dag_id: config file}`` as the last full parse of this shard rendered them; None if there is none."""
        ids = _read_json(self.ids_file()).get("ids")
        return None if ids is None else {dag_id: self.sources_dir / entry[0] for dag_id, entry in ids.items()}
