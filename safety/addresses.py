"""Email addresses as NeedleSafe accepts them: one mailbox, and nothing a mail server or a mail
header could read as more.

"newhire@example.com, someone@elsewhere.example" is two recipients to an SMTP server, and a line
break starts a new header: an invitation typed so once went to both addresses (found by an
attacker's review). Letters of any script are kept (maría@correo.es)."""

from __future__ import annotations

import re

#: The longest address a mail server takes (RFC 5321's path less its brackets).
MAX_LENGTH = 254
#: One address: a dot-atom local part and a domain of two or more dotted labels, with no
#: space, comma, quote, angle bracket, second @ or control character anywhere.
_ADDRESS = re.compile(r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*@[\w-]+(?:\.[\w-]+)+")


def is_email_address(text: str) -> bool:
    """Whether `text` (already trimmed) is a single email address."""
    return len(text) <= MAX_LENGTH and _ADDRESS.fullmatch(text) is not None
