"""The one exception type a user sees as a message instead of a traceback."""


class HarnessError(Exception):
    """A problem the user can fix (bad option, bad file, missing model). Its message says what to do."""
