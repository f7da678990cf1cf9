"""The Prefect flow of jwstspec and its thin task wrappers around the ``jwstspec`` library."""
