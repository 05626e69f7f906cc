"""The one exception type a user sees as a message instead of a traceback."""


class HarnessError(Exception):
    """A problem the user can fix (bad option, bad file, missing model). Its message says what to do."""


class SuiteUnavailable(HarnessError):
    """A suite's data is not present here (gated or not redistributable).

    The message says exactly how to supply it; the pytest plugin turns this into a skip, so a run
    without the data still passes on the suites it has.
    """
