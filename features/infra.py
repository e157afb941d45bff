"""What the service knows about networks and clients, independent of any one account.

Kept deliberately small and explicit: a list of hosting/cloud autonomous systems (traffic from
them is machines, VPNs or proxies, not a household) and the User-Agent marks of HTTP libraries
and headless browsers. Neither is evidence of scalping on its own; both are features.
"""

from __future__ import annotations

import re
from typing import Final

#: Autonomous systems of hosting and cloud providers (data centres), by number.
DATACENTER_ASNS: Final[frozenset[int]] = frozenset(
    {
        16276,  # OVH
        24940,  # Hetzner
        16509,  # Amazon AWS
        14618,  # Amazon AWS
        8987,  # Amazon AWS (EU)
        14061,  # DigitalOcean
        12876,  # Scaleway / Online SAS
        396982,  # Google Cloud
        15169,  # Google
        8075,  # Microsoft Azure
        51167,  # Contabo
        63949,  # Linode / Akamai
        20473,  # Vultr (Choopa)
        45102,  # Alibaba Cloud
        31898,  # Oracle Cloud
        132203,  # Tencent Cloud
        60781,  # LeaseWeb NL
        28753,  # LeaseWeb DE
        9009,  # M247
        212238,  # Datacamp / CDN77
        197540,  # netcup
        47583,  # Hostinger
        36352,  # ColoCrossing
        53667,  # FranTech / BuyVM
        209,  # CenturyLink hosting ranges are mixed; listed as hosting by most feeds
        13335,  # Cloudflare (WARP egress)
        40065,  # CNSERVERS
        62240,  # Clouvider
        35540,  # OVH (former Kimsufi ranges)
        43260,  # Zenlayer
        200651,  # FlokiNET
    }
)

#: Public mail providers: a shared domain there says nothing about who runs the accounts.
PUBLIC_MAIL_DOMAINS: Final[frozenset[str]] = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.fr",
        "yahoo.com",
        "ymail.com",
        "hotmail.fr",
        "hotmail.com",
        "outlook.fr",
        "outlook.com",
        "live.fr",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "sfr.fr",
        "neuf.fr",
        "laposte.net",
        "bbox.fr",
        "aol.com",
        "aol.fr",
        "gmx.fr",
        "gmx.com",
        "gmx.de",
        "protonmail.com",
        "proton.me",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "zoho.com",
        "tutanota.com",
        "numericable.fr",
        "club-internet.fr",
        "aliceadsl.fr",
        "web.de",
        "libero.it",
        "qq.com",
        "163.com",
    }
)

_AUTOMATION_UA = re.compile(
    r"python-requests|python-urllib|aiohttp|httpx|Go-http-client|curl/|Wget|okhttp|Java/|"
    r"libwww-perl|Scrapy|HeadlessChrome|PhantomJS|Puppeteer|Playwright|Selenium|node-fetch|axios/",
    re.IGNORECASE,
)
#: the pattern itself, for engines that match it in SQL (the console's evidence: RE2 reads it alike)
AUTOMATION_UA_PATTERN: Final = _AUTOMATION_UA.pattern
_AGENT_CACHE: dict[str, bool] = {}
_UA_CACHE_MAX: Final = 4096


def is_public_mail_domain(domain: str | None) -> bool:
    """True for the big public mail providers (case-insensitive)."""
    return domain is not None and domain.lower() in PUBLIC_MAIL_DOMAINS


def is_automation_agent(user_agent: str | None) -> bool:
    """True when the User-Agent names an HTTP library or a headless browser (cached)."""
    if not user_agent:
        return False
    known = _AGENT_CACHE.get(user_agent)
    if known is None:
        if len(_AGENT_CACHE) >= _UA_CACHE_MAX:
            _AGENT_CACHE.clear()
        known = _AGENT_CACHE[user_agent] = bool(_AUTOMATION_UA.search(user_agent))
    return known
