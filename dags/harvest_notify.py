"""Failure notifications of the harvest DAGs: Airflow's notifier mechanism, per agency.

``HarvestFailureNotifier`` is a ``BaseNotifier`` (an ``on_failure_callback``) that
sends through the providers' own notifiers: ``SmtpNotifier`` over the agency's
Airflow SMTP connection, ``HttpNotifier`` over its webhook connection (``notify:``
in ``_agency.yaml``). It is attached to the DAG's final ``report`` task, which fails
when anything in the run failed, so a failed run sends one message naming every
failed file and its reason (``harvesters/notify.py`` words it).

The message is set at send time and never rendered as a Jinja template: error
text is not ours to trust with ``{{ }}``. A channel that cannot send is logged and
the other still tries; a mail server being down must not hide the run's failure.
Not a DAG file (see .airflowignore); the providers load only when a message is sent.
"""

from __future__ import annotations

from airflow.sdk import BaseNotifier


class HarvestFailureNotifier(BaseNotifier):
    template_fields = ()

    def __init__(self, source: str, email: dict | None = None, webhook: dict | None = None):
        super().__init__()
        self.source = source
        self.email = email
        self.webhook = webhook

    @classmethod
    def for_config(cls, cfg) -> "HarvestFailureNotifier | None":
        n = cfg.notify
        if n.email is None and n.webhook is None:
            return None
        return cls(cfg.id, email=n.email.model_dump() if n.email else None,
                   webhook=n.webhook.model_dump() if n.webhook else None)

    def _message(self, context):
        from harvesters.report import RunReport

        exc = context.get("exception")
        data = getattr(exc, "harvest_report", None)
        report = RunReport.load(data) if data else None
        run = context.get("dag_run")
        run_id = getattr(run, "run_id", None) or context.get("run_id") or "?"
        ti = context.get("ti")
        try:
            run_url = ti.log_url.split("/tasks/")[0] if ti is not None else None
        except Exception:  # noqa: BLE001 - a link is a nicety
            run_url = None
        error = " ".join(str(exc).split()) if exc is not None else "the run failed"
        return report, run_id, error, run_url

    def notify(self, context) -> None:
        from harvesters import notify

        report, run_id, error, run_url = self._message(context)
        sent = []
        if self.email:
            try:
                from airflow.providers.smtp.notifications.smtp import SmtpNotifier

                SmtpNotifier(to=self.email["to"], from_email=self.email.get("from_email"),
                             smtp_conn_id=self.email["connection"],
                             subject=notify.failure_subject(self.source, report),
                             html_content=notify.failure_html(self.source, run_id, error, report, run_url),
                             ).notify(context)
                sent.append("e-mail")
            except Exception as exc:  # noqa: BLE001 - see the module docstring
                self.log.error("%s: failure e-mail not sent (connection %s): %s: %s", self.source,
                               self.email["connection"], type(exc).__name__, exc)
        if self.webhook:
            try:
                from airflow.providers.http.notifications.http import HttpNotifier

                HttpNotifier(http_conn_id=self.webhook["connection"], endpoint=self.webhook.get("endpoint") or None,
                             json=notify.failure_payload(self.source, run_id, error, report, run_url),
                             headers={"Content-Type": "application/json"}).notify(context)
                sent.append("webhook")
            except Exception as exc:  # noqa: BLE001
                self.log.error("%s: failure webhook not sent (connection %s): %s: %s", self.source,
                               self.webhook["connection"], type(exc).__name__, exc)
        if sent:
            self.log.info("%s: failure notification sent by %s", self.source, " and ".join(sent))
