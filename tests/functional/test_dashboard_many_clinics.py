"""The dashboard over many clinics: a chart a reader can use and a page that says it once.

With twenty clinics a bar per clinic and month would be a thousand bars three pixels wide in
seven colours that repeat, and most of a 211 KB page (issue 20; bench/LOAD.md measures it
on 100,000 sessions). The chart shows all clinics
together, a bar per month, with each month's lowest and highest clinic; the table still gives
every clinic's figures.
"""

from __future__ import annotations

import re

import pytest
from conftest import login

from safety.demo import bulk
from safety.review import charts


def two_hundred_bulk_sessions() -> bulk.BulkResult:
    """Twenty clinics with a few months of signed sessions, which every test only reads."""
    return bulk.generate(200)


#: The bulk generator writes from a thread of its own, on its own connection.
pytestmark = [pytest.mark.real_commits, pytest.mark.world.with_args(two_hundred_bulk_sessions)]


@pytest.fixture
def dashboard_page(world, client, make_user) -> str:
    login(client, make_user(role="compliance"))
    answer = client.get("/review/?months=12")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_each_chart_draws_all_clinics_together_a_bar_per_month(world, dashboard_page):
    assert world.clinics > len(charts.PALETTE)
    svgs = re.findall(r'<svg[^>]*class="chart".*?</svg>', dashboard_page, re.S)
    assert svgs
    per_chart = [re.findall(r"<rect [^>]*><title>([^<]*)</title>", svg) for svg in svgs]
    # A month with none of a rare event draws no bar: with 200 random sessions a chart (the
    # immediate reactions, on 2026-12-08) may have none at all, so bars are asked of some.
    assert any(per_chart)
    for bars in per_chart:
        assert len(bars) <= 12
        assert all(tip.startswith(f"All {world.clinics} clinics together, ") for tip in bars)
    # Two hundred sessions in twenty clinics: no clinic has the twenty sessions in a month
    # that its rate needs to stand as the lowest or highest (test_review_charts.py draws one).
    assert 'class="spread"' not in dashboard_page


def test_the_tables_still_give_every_clinic(world, dashboard_page):
    for name in bulk.CLINIC_NAMES[: world.clinics]:
        assert dashboard_page.count(f'<th scope="row">{name}</th>') >= len(
            re.findall(r'<svg[^>]*class="chart"', dashboard_page)
        ), name
