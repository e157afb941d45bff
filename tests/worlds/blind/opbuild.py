"""Infrastructure and account layout of each operation style (cells, devices, networks, active hours)."""

from __future__ import annotations

import random
from collections.abc import Callable

from .clock import HOUR, MINUTE
from .engine import Sim, merge
from .legit import office_hours
from .netinfra import DATACENTRE, VPN, CarrierNet, Device, Infra, Net, PoolNet
from .ops import Cell, Operation


def always(sim: Sim, rng: random.Random, outages: int) -> list[tuple[int, int]]:
    """The whole period, minus a few outages (a crashed script, a banned server, a flat battery)."""
    holes = []
    for _ in range(outages):
        a = rng.randint(sim.start, sim.end)
        holes.append((a, a + rng.randint(20, 480) * MINUTE))
    out: list[tuple[int, int]] = []
    t = sim.start
    for a, b in merge(holes):
        if a > t:
            out.append((t, a))
        t = max(t, b)
    if t < sim.end:
        out.append((t, sim.end))
    return out


def daily(
    sim: Sim,
    rng: random.Random,
    start: tuple[float, float],
    end: tuple[float, float],
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6),
    presence: float = 1.0,
) -> list[tuple[int, int]]:
    """Daily active hours (wall clock), e.g. a phone that is on from morning to midnight."""
    out = []
    for day in range(sim.days):
        if sim.weekday(day) in weekdays and rng.random() <= presence:
            a = rng.uniform(*start)
            b = rng.uniform(*end)
            out.append((sim.at_local(day, a), sim.at_local(day, min(b, 24 * 60 - 1))))
    return merge(out)


def shifts(sim: Sim, rng: random.Random) -> list[tuple[int, int]]:
    """A paid clicker's working hours: most days, a few hours in the daytime with a break."""
    start = rng.uniform(7 * 60, 12 * 60)
    length = rng.uniform(3 * 60, 8 * 60)
    return office_hours(
        sim,
        rng,
        (start - 45, start + 45),
        (start + length - 45, min(start + length + 60, 22 * 60)),
        (0, 1, 2, 3, 4, 5),
        rng.uniform(0.7, 0.95),
        lunch=rng.random() < 0.6,
    )


def _split_kinds(op: Operation, n: int, split: bool, watchers: int) -> list[str]:
    idle = round(n * op.plan.idle_share)
    kinds = ["idle"] * idle
    if split:
        kinds += ["watcher"] * min(watchers, n - idle - 1)
    kinds += ["booker" if split else "both"] * (n - len(kinds))
    op.rng.shuffle(kinds)
    return kinds


def _spread_accounts(
    op: Operation,
    cells: list[Cell],
    kinds: list[str],
    device_for: Callable[[Cell], Device | None],
    watcher_cells: list[Cell] | None = None,
) -> None:
    """Create the accounts: watchers on ``watcher_cells`` (default: all), the rest round-robin over ``cells``."""
    wcells = watcher_cells or cells
    i = j = 0
    for kind in kinds:
        if kind == "watcher":
            cell = wcells[j % len(wcells)]
            j += 1
        else:
            cell = cells[i % len(cells)]
            i += 1
        op.new_account(cell, kind, device_for(cell))


def _bot_client(infra: Infra, policy: str) -> Device:
    """What a server-side bot presents: a bare HTTP script, a visible headless browser, or a normal browser."""
    if policy == "script":
        return infra.device("script", infra.headless_ua())
    if policy == "headless":
        ua = infra.headless_ua()
        return infra.device("desktop", ua if "Headless" in ua else None)
    return infra.device("desktop")


def _operator_home(op: Operation, infra: Infra, rng: random.Random) -> Cell:
    """The seller himself: his own PC or phone at home, used to deal with customers."""
    phone = rng.random() < 0.5
    dev = infra.device("phone" if phone else "desktop")
    net: Net = infra.mobile_net() if phone and rng.random() < 0.6 else infra.home_net()
    cell = Cell("operator", "operator", [dev], net, daily(op.sim, rng, (8 * 60, 11 * 60), (20 * 60, 23 * 60)), True)
    op.cells.append(cell)
    return cell


def build_datacenter(op: Operation) -> None:
    """Rented servers (or VPN exits) polling around the clock with scripts or automated browsers."""
    sim, rng, infra, plan = op.sim, op.rng, op.infra, op.plan
    cells = []
    for k in range(plan.infra["servers"]):
        if plan.infra["vpn"]:
            addrs = infra.hosted(VPN, rng.randint(3, 15), rng.randint(1, 2))
        else:
            addrs = infra.hosted(DATACENTRE, rng.randint(1, 6), rng.randint(1, 2))
        net = PoolNet(addrs, (rng.randint(1, 6) * HOUR, rng.randint(7, 30) * HOUR))
        policy = plan.infra["devices"]
        devices = [_bot_client(infra, policy) for _ in range(rng.randint(1, 2))]
        cell = Cell(
            f"server-{k}",
            "server",
            devices,
            net,
            always(sim, rng, rng.choice((0, 0, 1, 2))),
            False,
            device_policy="per_session" if policy == "rotating" else "fixed",
            poll_s=plan.poll_s * rng.uniform(0.8, 1.25),
        )
        cells.append(cell)
    op.cells += cells
    per_account = plan.infra["devices"] == "per_account"
    _spread_accounts(
        op,
        cells,
        _split_kinds(op, plan.n_accounts, plan.split, plan.n_watchers),
        lambda c: infra.device("desktop") if per_account else None,
    )
    op.front = _operator_home(op, infra, rng) if rng.random() < 0.6 else cells[0]


def build_proxy(op: Operation) -> None:
    """A bot behind a rotating residential proxy service, with anti-detect fingerprints."""
    sim, rng, infra, plan = op.sim, op.rng, op.infra, op.plan
    cells = []
    for k in range(plan.infra["controllers"]):
        sticky = (0, 0) if rng.random() < 0.5 else (rng.randint(1, 5) * MINUTE, rng.randint(6, 40) * MINUTE)
        net = infra.proxy_net(rng.choice((0.0, 0.0, 0.05, 0.2)), sticky)
        policy = "per_session" if rng.random() < 0.5 else "fixed"
        cell = Cell(
            f"controller-{k}",
            "proxy",
            [infra.device("desktop")],
            net,
            always(sim, rng, rng.choice((0, 1))),
            False,
            device_policy=policy,
            poll_s=plan.poll_s * rng.uniform(0.8, 1.25),
        )
        cells.append(cell)
    op.cells += cells
    _spread_accounts(
        op,
        cells,
        _split_kinds(op, plan.n_accounts, plan.split, plan.n_watchers),
        lambda c: (
            infra.device("phone" if rng.random() < plan.infra.get("mobile_ua", 0) else "desktop")
            if c.device_policy == "fixed"
            else None
        ),
    )
    op.front = _operator_home(op, infra, rng) if rng.random() < 0.5 else cells[0]


def build_phones(op: Operation) -> None:
    """Several phones on carrier networks, each logged into a few accounts in turn, running a script."""
    sim, rng, infra, plan = op.sim, op.rng, op.infra, op.plan
    carrier = infra.carrier().asn if rng.random() < 0.5 else None
    mode = plan.infra["hours"]
    cells = []
    for k in range(plan.infra["phones"]):
        hours = (
            always(sim, rng, rng.choice((0, 1, 2)))
            if mode == "always"
            else daily(sim, rng, (6 * 60, 9 * 60), (22 * 60, 24 * 60 - 1))
        )
        cell = Cell(
            f"phone-{k}",
            "phone",
            [infra.device("phone", infra.mobile_ua("android"))],
            infra.mobile_net(carrier),
            hours,
            False,
            poll_s=plan.poll_s * rng.uniform(0.7, 1.4),
        )
        cells.append(cell)
    op.cells += cells
    _spread_accounts(op, cells, _split_kinds(op, plan.n_accounts, plan.split, plan.n_watchers), lambda c: None)
    op.front = rng.choice(cells)


def build_humans(op: Operation) -> None:
    """People paid to click at human speed in the daytime, each with a few accounts."""
    sim, rng, infra, plan = op.sim, op.rng, op.infra, op.plan
    where = plan.infra["where"]
    room: Net = infra.office_net() if rng.random() < 0.5 else infra.home_net()
    cells = []
    for k in range(plan.infra["workers"]):
        if where == "room":
            net = room
        elif where == "vpn":
            net = infra.vpn_net()
        else:
            net = infra.home_net() if rng.random() < 0.7 else infra.mobile_net()
        dev = infra.device("phone" if isinstance(net, CarrierNet) else "desktop")
        cell = Cell(
            f"worker-{k}", "worker", [dev], net, shifts(sim, rng), True, poll_s=plan.poll_s * rng.uniform(0.6, 1.6)
        )
        cells.append(cell)
    op.cells += cells
    hub: list[Cell] = []
    if plan.split:
        net = (
            infra.proxy_net(0.0, (5 * MINUTE, 30 * MINUTE))
            if rng.random() < 0.5
            else PoolNet(infra.hosted(DATACENTRE, rng.randint(1, 3)), (2 * HOUR, 12 * HOUR))
        )
        hub = [
            Cell(
                "coordinator",
                "server",
                [infra.device("desktop")],
                net,
                always(sim, rng, 0),
                False,
                poll_s=rng.uniform(3, 20),
            )
        ]
        op.cells += hub
    kinds = _split_kinds(op, plan.n_accounts, plan.split, plan.n_watchers)
    _spread_accounts(op, cells, kinds, lambda c: None, watcher_cells=hub or None)
    op.front = rng.choice(cells)


def build_farm(op: Operation) -> None:
    """Many accounts, each on its own fingerprint and address, each booking once or twice."""
    sim, rng, infra, plan = op.sim, op.rng, op.infra, op.plan
    mode = plan.infra["mode"]
    proxy = infra.proxy_net(rng.choice((0.0, 0.1, 0.3)), (HOUR, 24 * HOUR))
    hub: list[Cell] = []
    if mode == "hub":
        for k in range(max(1, plan.n_watchers // 2)):
            net = (
                PoolNet(infra.hosted(DATACENTRE, rng.randint(1, 4)), (HOUR, 12 * HOUR))
                if rng.random() < 0.5
                else infra.proxy_net(0.0, (0, 0))
            )
            hub.append(
                Cell(
                    f"hub-{k}",
                    "server",
                    [infra.device("desktop")],
                    net,
                    always(sim, rng, rng.choice((0, 1))),
                    False,
                    poll_s=plan.poll_s,
                )
            )
    op.cells += hub
    kinds = _split_kinds(op, plan.n_accounts, plan.split, plan.n_watchers)
    mobile_share = plan.infra["mobile_share"]
    for kind in kinds:
        if kind == "watcher" and hub:
            op.new_account(hub[len([a for a in op.accounts if a.kind == "watcher"]) % len(hub)], kind)
            continue
        on_mobile = rng.random() < mobile_share
        net = infra.mobile_net() if on_mobile else proxy
        dev = infra.device("phone" if on_mobile or rng.random() < 0.3 else "desktop")
        hours = daily(sim, rng, (7 * 60, 11 * 60), (19 * 60, 24 * 60 - 1)) if mode == "swarm" else always(sim, rng, 0)
        cell = Cell(
            f"farm-{len(op.cells)}", "farm", [dev], net, hours, False, poll_s=plan.poll_s * rng.uniform(0.5, 2.0)
        )
        op.cells.append(cell)
        op.new_account(cell, kind)
    op.front = hub[0] if hub and rng.random() < 0.5 else _operator_home(op, infra, rng)


def build_to_order(op: Operation) -> None:
    """A small shop collecting customers' documents and booking in their names, by hand or with a script."""
    sim, rng, infra, plan = op.sim, op.rng, op.infra, op.plan
    human = plan.timing == "human"
    nets: list[Net] = [infra.office_net() if rng.random() < 0.5 else infra.home_net()]
    if rng.random() < 0.4:
        nets.append(infra.vpn_net() if rng.random() < 0.5 else infra.proxy_net(0.0, (0, 0)))
    cells = []
    for k, net in enumerate(nets):
        hours = shifts(sim, rng) if human else always(sim, rng, rng.choice((0, 1)))
        cells.append(Cell(f"shop-{k}", "shop", [infra.device("desktop")], net, hours, human, poll_s=plan.poll_s))
    if rng.random() < 0.4:
        cells.append(
            Cell(
                "shop-phone",
                "phone",
                [infra.device("phone")],
                infra.mobile_net(),
                daily(sim, rng, (8 * 60, 10 * 60), (19 * 60, 23 * 60)),
                True,
                poll_s=plan.poll_s * 2,
            )
        )
    op.cells += cells
    _spread_accounts(op, cells, _split_kinds(op, plan.n_accounts, plan.split, plan.n_watchers), lambda c: None)
    op.front = cells[0]


def build_cafe(op: Operation) -> None:
    """A cyber-café owner reselling from the café: a script on the back-office PC, handoffs at the counter."""
    sim, rng, infra, plan = op.sim, op.rng, op.infra, op.plan
    place = op.places[plan.infra["place"]]
    opening = merge(iv for day in place.open_by_day for iv in day)
    script = plan.timing != "human"
    back = Cell(
        "back-office",
        "cafe",
        [infra.device("desktop")],
        place.net,
        always(sim, rng, 1) if script else opening,
        not script,
        poll_s=plan.poll_s,
    )
    counter = Cell("counter", "cafe", list(place.pcs), place.net, opening, True, poll_s=plan.poll_s * 3)
    op.cells += [back, counter]
    kinds = _split_kinds(op, plan.n_accounts, plan.split, plan.n_watchers)
    _spread_accounts(op, [back, counter], kinds, lambda c: None, watcher_cells=[back])
    op.front = counter


BUILDERS: dict[str, Callable[[Operation], None]] = {
    "datacenter_bot": build_datacenter,
    "residential_proxy_bot": build_proxy,
    "mobile_phones": build_phones,
    "slow_human": build_humans,
    "distributed_farm": build_farm,
    "book_to_order": build_to_order,
    "cybercafe_reseller": build_cafe,
}


def build(op: Operation) -> None:
    """Lay out ``op`` per its style."""
    BUILDERS[op.plan.style](op)
