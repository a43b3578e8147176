"""How messages are written and rewritten: when composed, when an attachment is added, when
sent.

Every message is 7-bit clean (non-ASCII text is quoted-printable or base64, non-ASCII headers
are encoded words), so it goes to any server as the bytes we wrote, with no re-encoding on the
way. Bodies wrap at 78 columns; headers do not: CPython's folder may put a fold between a space
and a following encoded word, and unfolding then shows two spaces ("Alpha Reseller  \u2014 1,234.50
EUR"). RFC 5322 allows header lines of up to 998 characters; our subjects stay under 300.
"""

from email.policy import EmailPolicy

HEADER_LINE_LIMIT = 998


class MailPolicy(EmailPolicy):
    """The default email policy, 7-bit, with headers written on one line."""

    def _unfolded(self) -> EmailPolicy:
        return EmailPolicy(
            linesep=self.linesep,
            cte_type=self.cte_type,
            utf8=self.utf8,
            max_line_length=HEADER_LINE_LIMIT,
        )

    def fold(self, name: str, value: str) -> str:
        return self._unfolded().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        return self._unfolded().fold_binary(name, value)


MAIL_POLICY = MailPolicy(cte_type="7bit")
SMTP_POLICY = MAIL_POLICY.clone(linesep="\r\n")
