"""What a failure notification says (the sending is Airflow's: ``dags/harvest_notify.py``).

One message per failed run, from the run report: the source, the run, and each failed
file with its reason. It carries only the pipeline's one-line errors and public URLs,
never a secret or a value of a file (issue 11), and it is plain data here so the mail,
the webhook and the tests all read the same thing.
"""

from __future__ import annotations

from html import escape

from .report import RunReport, public_url


def failure_subject(source: str, report: RunReport | None) -> str:
    if report is None:
        return f"[harvest] {source}: run failed"
    failed = report.counts["failed"]
    what = f"{failed} file{'s' if failed != 1 else ''} failed" if failed else "run failed"
    return f"[harvest] {source}: {what} (run {report.run_id})"


def failure_lines(source: str, run_id: str, error: str, report: RunReport | None) -> list[str]:
    lines = [f"Source: {source}", f"Run: {run_id}"]
    if report is not None:
        lines += [f"- {f.key}" + (f" ({f.reason})" if f.reason else "") + f": {f.error}"
                  for f in report.files if f.error]
        lines += [f"- dataset {d.name} {d.status}: {d.error}" for d in report.datasets if d.error]
        lines += [f"- {e}" for e in report.errors]
        counts = ", ".join(f"{k} {v}" for k, v in report.counts.items() if v)
        lines.append(f"Files: {counts or 'none'}; details: harvest report {source}")
    else:
        lines.append(f"Error: {error}")
    return lines


def failure_payload(source: str, run_id: str, error: str, report: RunReport | None,
                    run_url: str | None = None) -> dict:
    """The webhook's JSON body."""
    return {
        "source": source,
        "run_id": run_id,
        "state": "failed",
        "summary": failure_subject(source, report),
        "error": error if report is None else None,
        "failed_files": [{"file": f.key, "url": public_url(f.url), "reason": f.reason, "error": f.error}
                         for f in (report.files if report else []) if f.error],
        "run_url": run_url,
    }


def failure_html(source: str, run_id: str, error: str, report: RunReport | None, run_url: str | None = None) -> str:
    items = failure_lines(source, run_id, error, report)
    body = "".join(f"<li>{escape(line[2:])}</li>" if line.startswith("- ") else f"<p>{escape(line)}</p>"
                   for line in items)
    link = f'<p><a href="{escape(run_url)}">Open the run in Airflow</a></p>' if run_url else ""
    return f"<html><body><h3>{escape(failure_subject(source, report))}</h3>{body}{link}</body></html>"
