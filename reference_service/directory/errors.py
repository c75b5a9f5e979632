"""Directory errors: a stable code, an HTTP status and a sentence for a person."""

from __future__ import annotations

from typing import ClassVar


class DirectoryError(Exception):
    """Base of every refusal the portals turn into a page or a JSON answer."""

    code: ClassVar[str] = "directory_error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Something went wrong"
    message: ClassVar[str] = "The request could not be completed."

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail


class InvalidCredentials(DirectoryError):
    code = "invalid_credentials"
    status = 401
    title = "Login failed"
    message = "The email address or password is not correct."


class AccountLocked(DirectoryError):
    code = "account_locked"
    status = 403
    title = "Your account is locked"
    message = (
        "Your NHSmail account is locked after too many failed logins. Contact the NHSmail "
        "Helpdesk or a Local Administrator at your organisation to unlock it."
    )


class TooManyAttempts(DirectoryError):
    code = "too_many_attempts"
    status = 429
    title = "Too many attempts"
    message = (
        "There have been too many failed attempts to log in to this account. Try again later. "
        "If you have forgotten your password, contact the NHSmail Helpdesk."
    )


class CrossSiteRequest(DirectoryError):
    code = "cross_site_request"
    status = 403
    title = "Not allowed"
    message = (
        "This request did not come from a page of this portal, or the page was too old. "
        "Go back, reload the page and try again."
    )


class AccountDisabled(DirectoryError):
    code = "account_disabled"
    status = 403
    title = "Your account is disabled"
    message = (
        "Your NHSmail account is disabled. Contact a Local Administrator at your organisation "
        "or the NHSmail Helpdesk."
    )


class AupNotAccepted(DirectoryError):
    code = "aup_not_accepted"
    status = 403
    title = "Accept the Acceptable Use Policy first"
    message = (
        "You have not accepted the NHSmail Acceptable Use Policy (AUP). Log in to the NHSmail "
        "portal with your email address and password and accept it, then try again."
    )


class MfaInvalid(DirectoryError):
    code = "mfa_invalid"
    status = 401
    title = "The code is not correct"
    message = "The code from your authenticator app is not correct or was already used."


class PasswordRejected(DirectoryError):
    code = "password_rejected"
    status = 400
    title = "Choose another password"
    message = "The new password does not meet the NHSmail password rules."

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class AccountUnknown(DirectoryError):
    code = "account_unknown"
    status = 404
    title = "No such account"
    message = "There is no NHSmail account with this address."


class CareIdentityLinkedElsewhere(DirectoryError):
    code = "care_identity_linked_elsewhere"
    status = 409
    title = "This Care Identity is already linked"
    message = (
        "This NHS Care Identity (smartcard) is already linked to another NHSmail account. "
        "One Care Identity can be linked to one NHSmail account only. Contact the NHSmail "
        "Helpdesk to remove the existing registration."
    )


class AccountAlreadyLinked(DirectoryError):
    code = "account_already_linked"
    status = 409
    title = "Your NHSmail account is already linked"
    message = (
        "Your NHSmail account is already linked to another NHS Care Identity. Contact the "
        "NHSmail Helpdesk to remove the existing registration before linking a new one."
    )


class AlreadyLinked(DirectoryError):
    code = "already_linked"
    status = 200
    title = "Already linked"
    message = "Your NHSmail account is already linked to this NHS Care Identity."


class NotLinked(DirectoryError):
    code = "not_linked"
    status = 403
    title = "Your Care Identity is not linked to NHSmail"
    message = (
        "Your NHS Care Identity (smartcard) is not registered with an NHSmail account. Register "
        "it once in My Identity Portal (Link My NHS Accounts), then log in again."
    )


class LinkUnknown(DirectoryError):
    code = "link_unknown"
    status = 404
    title = "No such registration"
    message = "There is no registration for this Care Identity or account."


class SmartcardRequired(DirectoryError):
    code = "smartcard_required"
    status = 403
    title = "Use your NHS Smartcard"
    message = (
        "Linking needs a sign-in with your NHS Care Identity smartcard. Select Smartcard when "
        "asked for an authentication mechanism, then try again."
    )


class LinkRequestExpired(DirectoryError):
    code = "link_request_expired"
    status = 400
    title = "Start the link again"
    message = "There is no link waiting for your confirmation, or it took too long. Start again."


ERRORS: dict[str, type[DirectoryError]] = {
    cls.code: cls
    for cls in (
        InvalidCredentials,
        AccountLocked,
        TooManyAttempts,
        CrossSiteRequest,
        AccountDisabled,
        AupNotAccepted,
        MfaInvalid,
        PasswordRejected,
        AccountUnknown,
        CareIdentityLinkedElsewhere,
        AccountAlreadyLinked,
        AlreadyLinked,
        NotLinked,
        LinkUnknown,
        SmartcardRequired,
        LinkRequestExpired,
    )
}
