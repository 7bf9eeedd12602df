"""The one exception hierarchy of the library; messages speak of the user's input."""


class SearchError(Exception):
    """Base class of every error the library raises on purpose."""


class IngestError(SearchError):
    """A file could not be read or parsed at all."""


class IndexUnavailable(SearchError):
    """The index is missing, locked or unusable."""


class IndexMissing(IndexUnavailable):
    """No index exists at the configured location."""


class IndexOutdated(IndexUnavailable):
    """The index was written by another version of policy-search, in another format."""


class IndexLocked(IndexUnavailable):
    """Another writer holds the index lock."""


class IndexWriteFailed(SearchError):
    """An update failed on the file system; the last complete index is still in place."""


class StorageFull(IndexWriteFailed):
    """An update failed because the disk (or the file size limit) is full."""


class InvalidParameter(SearchError):
    """A search parameter has a value we cannot use; `parameter` names it."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter
        self.message = message


class InvalidSetting(SearchError):
    """A setting (an environment variable or a command option) has a value we cannot use."""


class DocumentNotFound(SearchError):
    """No record has the requested id."""
