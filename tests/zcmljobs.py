"""Importable filters, choosers and jobs for docs/zcml.rst (a database
stores them by reference, so they live in a module)."""


def is_mail(job):
    """A filter: the jobs that send mail."""
    return getattr(job.callable, '__name__', '') == 'send_mail'


def pick_first(agent, jobs):
    """A chooser: the first job offered."""
    return jobs[0] if jobs else None


def send_mail():
    return 'sent'
