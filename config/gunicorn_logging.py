"""gunicorn's logger for Keystay: its access and error lines without link tokens.

The access log writes each request's path (and its Referer), and the error log the path of
a request that failed: a guest page or invitation link would be written whole. Both of
gunicorn's loggers get the filter Django's own log lines pass through (core.log_privacy).
"""

from gunicorn import glogging

from core.log_privacy import HideLinkTokens


class Logger(glogging.Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)  # run again on a reload: the filter is added once
        for log in (self.access_log, self.error_log):
            if not any(isinstance(f, HideLinkTokens) for f in log.filters):
                log.addFilter(HideLinkTokens())
