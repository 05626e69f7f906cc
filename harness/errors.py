"""The one exception type a user sees as a message instead of a traceback."""


def first_line(e: BaseException) -> str:
    """The most specific line of an exception message (pydantic puts it after a header line)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "error" in ln.lower() and "validation error" not in ln.lower()]
    return (useful or lines or [type(e).__name__])[0][:400]


class HarnessError(Exception):
    """A problem the user can fix (bad option, bad file, missing model). Its message says what to do."""


class SuiteUnavailable(HarnessError):
    """A suite's data is not present here (gated or not redistributable).

    The message says exactly how to supply it; the pytest plugin turns this into a skip, so a run
    without the data still passes on the suites it has.
    """
