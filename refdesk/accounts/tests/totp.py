"""Current TOTP codes for a secret, computed with allauth's own generator."""

import time

from allauth.mfa import app_settings
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def current_code(secret: str = SECRET) -> str:
    """The code of this 30-second period; near its end, the next period's (after waiting for
    it): a code computed just before the period rolls over is refused by the time it is
    posted (allauth's tolerance is 0), which made login tests fail now and then."""
    left = app_settings.TOTP_PERIOD - time.time() % app_settings.TOTP_PERIOD
    if left < 3:
        time.sleep(left + 0.05)
    counter = next(iter(yield_hotp_counters_from_time()))
    return format_hotp_value(hotp_value(secret, counter))


def wrong_code(secret: str = SECRET) -> str:
    return f"{(int(current_code(secret)) + 1) % 1_000_000:06d}"
