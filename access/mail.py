"""The account emails (an invitation, an email verification, a password reset) as messages of
the notifications pipeline: put on the email channel's topic by the API's outlet, rendered and
sent over SMTP by the notifier's deliver stage like every other email (retries, dead letters,
the delivery log).

Each message's id is derived from its link's id, so the same link queued twice is one email.

An account email must never be rendered with a template the organisation can edit: a manager
who may edit message templates could otherwise wrap an admin's reset link in a link of their
own, and take the admin's account with the token. Until the notifications package renders
account topics from the product's own words only, the words are written here and travel as the
text of an announcement under the nil tenant id, which has no templates of its own (so the
product's default announcement template is the one used).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from access import links
from access.links import Purpose
from access.organisations import record, tenant_name
from access.users import User, credentials
from core.errors import Unavailable
from eventstore.pool import pooled
from notifications.messages import Message
from notifications.outlet import Outlet

log = logging.getLogger(__name__)

# How long a request waits for Kafka to take an account email; past it the answer says the email
# was not queued (the send goes on in the background: an email queued late is still sent, and a
# newer link voids the older one).
QUEUE_TIMEOUT_S = 3.0
# Whose templates render account emails: nobody's (no organisation has this id), so the
# product's default announcement template is used, never one an organisation edited.
PRODUCT_TENANT = "00000000-0000-0000-0000-000000000000"
TOPIC = "announcement"

_WORDS: dict[str, dict[Purpose, str]] = {
    "en": {
        "invite": "Hello {name}, you are invited to join {tenant_name} on Virtual Queue as {role}."
        " Choose your password here (the link works once, for 7 days): {link}",
        "verify-email": "Hello {name}, please confirm your email address for {tenant_name}"
        " (the link works once, for 2 days): {link}",
        "reset-password": "Hello {name}, someone (we hope you) asked to reset your password for"
        " {tenant_name}. Choose a new one here within the hour: {link} If it was not you,"
        " ignore this email: your password stays as it is.",
    },
    "fr": {
        "invite": "Bonjour {name}, vous êtes invité(e) à rejoindre {tenant_name} sur Virtual Queue"
        " ({role}). Choisissez votre mot de passe ici (lien valable une fois, 7 jours) : {link}",
        "verify-email": "Bonjour {name}, merci de confirmer votre adresse pour {tenant_name}"
        " (lien valable une fois, 2 jours) : {link}",
        "reset-password": "Bonjour {name}, quelqu'un (vous, espérons-le) a demandé à changer votre"
        " mot de passe pour {tenant_name}. Choisissez-en un nouveau dans l'heure : {link} Si ce"
        " n'était pas vous, ignorez ce message : votre mot de passe reste le même.",
    },
    "de": {
        "invite": "Hallo {name}, Sie sind eingeladen, {tenant_name} auf Virtual Queue beizutreten"
        " ({role}). Wählen Sie hier Ihr Passwort (der Link gilt einmal, 7 Tage lang): {link}",
        "verify-email": "Hallo {name}, bitte bestätigen Sie Ihre E-Mail-Adresse für {tenant_name}"
        " (der Link gilt einmal, 2 Tage lang): {link}",
        "reset-password": "Hallo {name}, jemand (hoffentlich Sie) möchte Ihr Passwort für"
        " {tenant_name} zurücksetzen. Wählen Sie innerhalb einer Stunde ein neues: {link} Waren"
        " Sie es nicht, ignorieren Sie diese E-Mail: Ihr Passwort bleibt unverändert.",
    },
    "es": {
        "invite": "Hola {name}, le invitan a unirse a {tenant_name} en Virtual Queue ({role})."
        " Elija su contraseña aquí (el enlace sirve una vez, durante 7 días): {link}",
        "verify-email": "Hola {name}, confirme su dirección de correo para {tenant_name}"
        " (el enlace sirve una vez, durante 2 días): {link}",
        "reset-password": "Hola {name}, alguien (esperamos que usted) pidió cambiar su contraseña"
        " de {tenant_name}. Elija una nueva en la próxima hora: {link} Si no fue usted, ignore"
        " este correo: su contraseña no cambia.",
    },
}


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountMail:
    purpose: Purpose
    link_id: str
    link: str
    tenant_id: str
    tenant_name: str
    user_id: str
    email: str
    name: str
    role: str
    language: str = "en"


def message(mail: AccountMail, now: datetime | None = None) -> Message:
    """The email as a message of the email channel."""
    values = {
        "name": mail.name,
        "tenant_name": mail.tenant_name,
        "link": mail.link,
        "role": mail.role,
    }
    base = mail.language.replace("_", "-").split("-")[0].lower()
    words = _WORDS.get(base, _WORDS["en"])[mail.purpose].format(**values)
    return Message(
        id=f"account-{mail.purpose}-{mail.link_id}",
        tenant_id=PRODUCT_TENANT,
        channel="email",
        to=mail.email,
        topic=TOPIC,
        created_at=now or datetime.now(UTC),
        order_key=mail.user_id,
        language=mail.language,
        data={"queue_name": mail.tenant_name, "text": words},
    )


# Sends that outlived their request: kept referenced until they end (else they may be collected).
_pending: set[asyncio.Task[bool]] = set()


async def queue(outlet: Outlet, mail: AccountMail, *, timeout_s: float = QUEUE_TIMEOUT_S) -> bool:
    """Put the email on its way; whether Kafka took it within `timeout_s`. Never raises: the
    act the email is about (an invitation, a sign-up) stands without it, and can be re-sent."""
    sending = asyncio.ensure_future(_send(outlet, mail))
    try:
        return await asyncio.wait_for(asyncio.shield(sending), timeout_s)
    except TimeoutError:
        _pending.add(sending)
        sending.add_done_callback(_pending.discard)
        log.warning("the %s email of user %s is not queued yet", mail.purpose, mail.user_id)
        return False


async def _send(outlet: Outlet, mail: AccountMail) -> bool:
    try:
        await outlet.send([message(mail)])
    except Unavailable as exc:
        log.warning("the %s email of user %s was not queued: %s", mail.purpose, mail.user_id, exc)
        return False
    return True


async def send_link(
    outlet: Outlet,
    public_url: str,
    person: User,
    organisation: str,
    link: links.Issued,
    purpose: Purpose,
) -> bool:
    """Email the person their link; whether it is on its way (see `queue`)."""
    return await queue(
        outlet,
        AccountMail(
            purpose=purpose,
            link_id=link.link_id,
            link=links.url(public_url, purpose, link.token),
            tenant_id=person.tenant_id,
            tenant_name=organisation,
            user_id=person.user_id,
            email=person.email,
            name=person.name,
            role=person.role,
            language=person.language,
        ),
    )


async def send_reset(
    pool: AsyncConnectionPool[Any], outlet: Outlet, public_url: str, tenant_id: str, email: str
) -> None:
    """A password-reset link to the active person of this email, if there is one (nothing
    otherwise: the asker is told the same either way). Voids the person's older reset links."""
    try:
        _, found = await credentials(pool, tenant_id, email)
        if found is None or not found.user.active:
            return
        person = found.user
        organisation = await tenant_name(pool, tenant_id) or ""
        async with pooled(pool) as db, db.transaction():
            now = datetime.now(UTC)
            link = await links.issue(db, tenant_id, person.user_id, "reset-password", now)
            await record(
                db,
                tenant_id=tenant_id,
                actor="anonymous",
                action="password.reset_requested",
                subject=person.user_id,
            )
        await send_link(outlet, public_url, person, organisation, link, "reset-password")
    except Unavailable as exc:
        log.warning("no password-reset email: %s", exc)
