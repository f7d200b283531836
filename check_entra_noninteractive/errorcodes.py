"""What Entra's AADSTS error codes mean, for the people who read the detailed diagnosis."""

# Microsoft's sign-in workbook counts these as "pending user action", not as attacks.
INTERRUPTS = frozenset((50058, 50140, 51006, 50059, 65001, 52004, 50055, 50144, 50072,
                        50074, 16000, 16001, 16003, 50127, 50125, 50129, 50143, 81010,
                        81014, 81012))

ERROR_CODES = {
    -1: "the log gives an error code that is not a number",
    16000: "the user must choose an account (several accounts signed in)",
    16001: "account selection needed",
    16003: "the account is not in the tenant it signed in to",
    50034: "the user account does not exist in the directory",
    50053: "account locked: too many bad passwords (smart lockout), or sign-in from a "
           "blocked IP",
    50055: "the password has expired",
    50056: "invalid or null password: no password stored for the user",
    50057: "the account is disabled",
    50058: "session information not sufficient for single sign-on (silent sign-in "
           "interrupted)",
    50059: "no tenant found in the request",
    50072: "the user must register for multi-factor authentication",
    50074: "strong authentication (MFA) required",
    50076: "multi-factor authentication required (policy or new location)",
    50125: "sign-in interrupted by a password reset or registration entry",
    50126: "invalid username or password",
    50127: "the user must install a broker app",
    50129: "the device is not workplace joined",
    50140: "'Keep me signed in' interrupt",
    50143: "session mismatch between tenant and user",
    50144: "the Active Directory password has expired",
    50199: "for security reasons the user must confirm this sign-in (e.g. a device code "
           "the user did not confirm)",
    51006: "re-authentication required (Windows Integrated Authentication)",
    52004: "the user has not consented to LinkedIn access",
    53003: "blocked by Conditional Access",
    65001: "the user or an administrator has not consented to the application",
    70044: "session expired or invalid (sign-in frequency of Conditional Access)",
    81010: "Seamless SSO failed: Kerberos ticket expired or invalid",
    81012: "Seamless SSO: the user signed in to the device is not the one signing in",
    81014: "Seamless SSO: not tried (e.g. the domain is not intranet)",
    90002: "tenant not found",
    700016: "application not found in the tenant",
    700082: "refresh token expired through inactivity",
    7000215: "invalid client secret",
}


LOOKUP = "https://login.microsoftonline.com/error?code=%d"


def meaning(code):
    """What an AADSTS error code means, for people."""
    if code in ERROR_CODES:
        return ERROR_CODES[code]
    return "see " + LOOKUP % code


def lookup_url(code):
    """Microsoft's page about an error code, or None for what is no error code: 0
    (success), the stand-in -1 and the texts of codes that were no number."""
    if isinstance(code, int) and not isinstance(code, bool) and code > 0:
        return LOOKUP % code
    return None


def kind(code):
    return "interrupt" if code in INTERRUPTS else "failure"
