"""Fault-and-abuse suite, groups YAML, secrets and config: a source config is untrusted input.

A hostile config cannot hang `harvest sources validate` (nor `harvest run` or the
DAG file, which load configs through the same ``load_all``), cannot read secrets
from the environment, cannot carry credentials inline, and cannot point the
pipeline at folders or suite files outside its place.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harvesters.cli import main
from harvesters.config import load_all, load_source
from harvesters.errors import ConfigError
from harvesters.settings import REPO_ROOT

SOURCES = REPO_ROOT / "include" / "sources"
SECRET = "s3cr3t-VALUE-never-shown"


@pytest.fixture()
def pcd(tmp_path) -> Path:
    """A private copy of one agency's folder; returns the pm25-hourly config's path."""
    root = tmp_path / "sources" / "pcd"
    shutil.copytree(SOURCES / "pcd", root)
    return root / "pm25-hourly.yaml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def refusal(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_source(path)
    assert SECRET not in str(info.value) and "\n" not in str(info.value)
    return info.value


def fields(err: ConfigError) -> dict[str, str]:
    return dict(err.problems)


# ------------------------------------------------------------------ YAML

BILLION_LAUGHS = "\n".join(
    ["a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
       f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]" for i in range(8)]
    + ["id: pcd-laughs"])


def test_a_billion_laughs_config_is_refused_by_validate(pcd, capsys):
    bomb = pcd.parent / "laughs.yaml"
    bomb.write_text(BILLION_LAUGHS, encoding="utf-8")
    assert main(["sources", "validate", str(bomb)]) == 1
    out = capsys.readouterr()
    assert f"{bomb}: line 2: YAML aliases (*a) are not allowed" in out.out + out.err


def test_a_billion_laughs_config_does_not_hide_the_other_sources(pcd):
    (pcd.parent / "laughs.yaml").write_text(BILLION_LAUGHS, encoding="utf-8")
    loaded, errors = load_all(pcd.parent.parent)
    assert {s.config.id for s in loaded} >= {"pcd-pm25-hourly"}
    assert [Path(e.file).name for e in errors] == ["laughs.yaml"]


def test_merge_keys_are_aliases_too(pcd):
    edit(pcd, "schedule:", "x-defaults: &d {retries: 3}\n<<: *d\nschedule:")
    assert "aliases (*d)" in str(refusal(pcd))


def test_an_alias_in_the_agency_defaults_is_refused(pcd):
    agency = pcd.parent / "_agency.yaml"
    agency.write_text(agency.read_text(encoding="utf-8") + "\nx: &x 1\ny: *x\n", encoding="utf-8")
    err = refusal(pcd)
    assert err.file.endswith("_agency.yaml") and "aliases (*x)" in str(err)


def test_a_huge_config_is_refused_unread(pcd, monkeypatch):
    monkeypatch.setenv("HARVEST_MAX_CONFIG_BYTES", "100000")
    edit(pcd, "schedule:", "# " + "ก" * 200_000 + "\nschedule:")
    assert "over 100000 bytes (HARVEST_MAX_CONFIG_BYTES)" in str(refusal(pcd))


def test_the_default_size_cap_refuses_a_50_megabyte_config(pcd):
    with pcd.open("a", encoding="utf-8") as fh:
        fh.write(("#" + "x" * 1023 + "\n") * (50 * 1024))
    assert "bytes (HARVEST_MAX_CONFIG_BYTES)" in str(refusal(pcd))


def test_deep_nesting_is_refused(pcd):
    edit(pcd, "schedule:", "deep: " + "[" * 50_000 + "]" * 50_000 + "\nschedule:")
    assert "nested too deeply" in str(refusal(pcd))


@pytest.mark.parametrize("payload", ["!!python/object/apply:os.system ['echo owned']", "!!python/name:os.system ''"])
def test_python_tags_are_not_constructed(pcd, payload):
    edit(pcd, "schedule:", f"owned: {payload}\nschedule:")
    err = refusal(pcd)
    assert "line" in str(err)


# ------------------------------------------------------------------ secrets: interpolation


@pytest.mark.parametrize("name", ["HARVEST_PORTAL_TOKEN", "AIRFLOW_CONN_GDC_PORTAL", "HOME", "AWS_SECRET_ACCESS_KEY",
                                  "HARVEST_S3_SECRET_KEY"])
def test_interpolation_cannot_read_secrets_or_other_variables(pcd, monkeypatch, name):
    monkeypatch.setenv(name, SECRET)
    edit(pcd, "${HARVEST_CFG_DEMO_SITE_URL:-http://127.0.0.1:8765}", f"http://127.0.0.1/${{{name}}}")
    err = refusal(pcd)
    assert f"${{{name}}}: configs may read only HARVEST_CFG_* variables" in str(err)


def test_interpolation_of_a_refused_variable_with_a_default_is_still_refused(pcd, monkeypatch):
    monkeypatch.setenv("HARVEST_PORTAL_TOKEN", SECRET)
    edit(pcd, "${HARVEST_CFG_DEMO_SITE_URL:-http://127.0.0.1:8765}", "${HARVEST_PORTAL_TOKEN:-http://127.0.0.1}")
    refusal(pcd)


def test_the_deployment_may_allow_more_variables_by_name(pcd, monkeypatch):
    monkeypatch.setenv("AGENCY_HOST", "http://127.0.0.1:7000")
    edit(pcd, "${HARVEST_CFG_DEMO_SITE_URL:-http://127.0.0.1:8765}", "${AGENCY_HOST}")
    refusal(pcd)
    monkeypatch.setenv("HARVEST_CFG_VARS", "AGENCY_HOST,OTHER")
    assert load_source(pcd).config.source.files[0].url == "http://127.0.0.1:7000/pcd/pm25_hourly.csv"


# ------------------------------------------------------------------ secrets: inline credentials


def test_url_userinfo_is_refused(pcd):
    edit(pcd, "${HARVEST_CFG_DEMO_SITE_URL:-http://127.0.0.1:8765}", f"https://agency:{SECRET}@data.example.go.th")
    assert "user name or password" in fields(refusal(pcd))["source.files.0.url"]


@pytest.mark.parametrize("query", ["api_key", "apikey", "token", "access_token", "password", "secret",
                                   "AWSAccessKeyId", "X-Amz-Signature", "sig", "key"])
def test_a_credential_in_a_url_query_is_refused(pcd, query):
    edit(pcd, "/pcd/pm25_hourly.csv", f"/pcd/pm25_hourly.csv?province=10&{query}={SECRET}")
    assert f"credential-like query parameter ({query})" in fields(refusal(pcd))["source.files.0.url"]


@pytest.mark.parametrize("header", ["Authorization", "Proxy-Authorization", "X-API-Key", "Api-Key", "Cookie",
                                    "X-Auth-Token", "X-Access-Token", "X-Client-Secret"])
def test_a_credential_header_is_refused(pcd, header):
    edit(pcd, "  kind: http", f"  kind: http\n  headers: {{'{header}': '{SECRET}'}}")
    assert "credential-like header" in fields(refusal(pcd))[f"source.headers.{header}"]


@pytest.mark.parametrize("param", ["api_key", "token", "password", "secret", "access_key", "client_secret", "passwd"])
def test_a_credential_parameter_is_refused(tmp_path, param):
    root = tmp_path / "sources" / "pcd"
    shutil.copytree(SOURCES / "pcd", root)
    path = root / "air-stations-api.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  kind: json_api", f"  kind: json_api\n  params: {{{param}: {SECRET}}}"),
                    encoding="utf-8")
    assert "credential-like parameter" in fields(refusal(path))[f"source.params.{param}"]


def test_userinfo_in_a_metadata_url_is_refused(pcd):
    edit(pcd, "metadata:", f"metadata:\n  url: https://user:{SECRET}@agency.example.go.th/page")
    assert "metadata.url" in fields(refusal(pcd))


def test_harmless_headers_and_params_pass(tmp_path):
    root = tmp_path / "sources" / "pcd"
    shutil.copytree(SOURCES / "pcd", root)
    path = root / "air-stations-api.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  kind: json_api", "  kind: json_api\n  params: {province: 10, lang: th}\n"
                                                     "  headers: {Accept-Language: th, Accept: application/json}"),
                    encoding="utf-8")
    assert load_source(path).config.source.params == {"province": 10, "lang": "th"}


def test_validate_refuses_an_inline_secret_as_file_field_message(pcd, capsys):
    edit(pcd, "  kind: http", f"  kind: http\n  headers: {{Authorization: 'Bearer {SECRET}'}}")
    assert main(["sources", "validate", str(pcd)]) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert f"{pcd}: source.headers.Authorization: a credential-like header inline" in text and SECRET not in text


# ------------------------------------------------------------------ config checks


@pytest.mark.parametrize("schedule", ["'61 * * * *'", "'* * *'", "'@sometimes'", "'rm -rf /'", "'0 0 * * * * *'",
                                      "'0 25 * * *'"])
def test_an_invalid_schedule_is_caught(pcd, schedule, capsys):
    edit(pcd, 'schedule: "15 * * * *"', f"schedule: {schedule}")
    assert "schedule" in fields(refusal(pcd))
    assert main(["sources", "validate", str(pcd)]) == 1
    assert f"{pcd}: schedule: " in capsys.readouterr().out


@pytest.mark.parametrize("schedule", ["'@daily'", "'*/15 6-18 * * MON-FRI'", "null", "'@once'"])
def test_valid_schedules_pass(pcd, schedule):
    edit(pcd, 'schedule: "15 * * * *"', f"schedule: {schedule}")
    load_source(pcd)


@pytest.mark.parametrize("suite", ["../../etc/passwd", "a/b", "..", "x\\\\y", "/abs/suite", ".hidden"])
def test_a_suite_name_must_be_a_plain_name(pcd, suite):
    edit(pcd, "suite: pcd_pm25_hourly", f"suite: '{suite}'")
    assert "plain file name" in fields(refusal(pcd))["validation.suite"]


@pytest.mark.parametrize("path", ["/etc", "/srv/drops/../../etc", "/tmp/../etc/ssh", "relative/folder", "/srv/dropsX"])
def test_a_drop_folder_outside_the_allowed_roots_is_caught(tmp_path, path, capsys, monkeypatch):
    monkeypatch.setenv("HARVEST_DROP_ROOTS", "/srv/drops")
    root = tmp_path / "sources" / "gistda"
    shutil.copytree(SOURCES / "gistda", root)
    cfg = root / "burned-area-folder-drop.yaml"
    edit(cfg, "${HARVEST_CFG_DEMO_DROP_DIR:-/srv/drops}/gistda", path)
    assert "source.path" in fields(refusal(cfg))
    assert main(["sources", "validate", str(cfg)]) == 1
    assert f"{cfg}: source.path: " in capsys.readouterr().out


def test_a_drop_folder_below_an_allowed_root_passes(tmp_path, monkeypatch):
    monkeypatch.setenv("HARVEST_DROP_ROOTS", "/mnt/agency-drops, /srv/drops")
    root = tmp_path / "sources" / "gistda"
    shutil.copytree(SOURCES / "gistda", root)
    cfg = root / "burned-area-folder-drop.yaml"
    edit(cfg, "${HARVEST_CFG_DEMO_DROP_DIR:-/srv/drops}/gistda", "/mnt/agency-drops/gistda/../gistda2")
    assert load_source(cfg).config.source.path == "/mnt/agency-drops/gistda2"


def test_hostile_configs_become_their_own_invalid_dags_not_an_import_error(monkeypatch, tmp_path):
    """The DAG file loads configs through load_all: a bomb, a bad cron and an inline secret each get a DAG."""
    from tests.unit.test_dag_integrity import load_dagbag

    sources = tmp_path / "sources"
    shutil.copytree(SOURCES, sources)
    (sources / "pcd" / "laughs.yaml").write_text(BILLION_LAUGHS, encoding="utf-8")
    edit(sources / "pcd" / "pm25-hourly.yaml", 'schedule: "15 * * * *"', "schedule: '99 * * * *'")
    edit(sources / "gistda" / "hotspots.yaml", "  kind: http", f"  kind: http\n  headers: {{X-API-Key: {SECRET}}}")
    bag = load_dagbag(monkeypatch, sources)
    assert bag.import_errors == {}
    invalid = {d: bag.dags[d] for d in ("invalid__pcd__laughs", "invalid__pcd__pm25-hourly",
                                        "invalid__gistda__hotspots")}
    assert "aliases" in invalid["invalid__pcd__laughs"].doc_md
    assert "schedule" in invalid["invalid__pcd__pm25-hourly"].doc_md
    assert "X-API-Key" in invalid["invalid__gistda__hotspots"].doc_md
    assert not any(SECRET in (d.doc_md or "") + (d.description or "") for d in bag.dags.values())
    assert "ddc-respiratory-patients" in bag.dag_ids
