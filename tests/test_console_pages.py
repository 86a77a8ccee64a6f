"""The console's pages in headless Chromium, over a real backend: ``Admin`` on moto in process
with MTCNN and dlib, its data made by sending camera frames through recognition. Naming a review
group from the keyboard, merge, not-this-person, escaping, CSRF, pagination, activity, crops."""

from __future__ import annotations

import random
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from facepipe.people import keys
from facepipe_tools.admin import Admin
from facepipe_tools.console import console_app
from facepipe_tools.console.directory import PAGE_SIZE
from facepipe_tools.scenes import camera_frame
from helpers import camera_face, camera_replay, encode, moto_recognition

pytest_plugins = ["browser"]  # chromium, context, page, serve_console
pytestmark = [pytest.mark.fixtures]

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def pipeline(aws, settings, detector, dlib_embedder):
    return moto_recognition(aws, settings, detector, dlib_embedder)


@pytest.fixture
def admin(pipeline) -> Admin:
    return Admin(pipeline.recognizer)


@pytest.fixture
def console(admin, serve_console) -> str:
    """The console with every page over ``admin``, served on a free loopback port: its base URL."""
    return serve_console(console_app(admin))


def portrait(fixtures_root, detector, path: str, face_px: int = 60, side: int = 160) -> bytes:
    """A ``side`` x ``side`` frame of the photo's face at ``face_px`` px: a good face, named when enrolled."""
    image, box = camera_face(fixtures_root / path, detector)
    return encode(camera_frame(image, box, face_px, side), quality=90)


def settled(page) -> None:
    """Wait until the page and every picture it asked for are loaded: the console's requests
    reach moto, which the test's own recognition must not meet halfway."""
    page.wait_for_load_state("networkidle")


# --- review -------------------------------------------------------------------------------


def test_console_names_a_review_group_with_enter_and_the_next_frame_is_named(page, console, pipeline, settings, fixtures_root, detector):
    recognizer = pipeline.recognizer
    rng = random.Random(7)
    image, box = camera_face(fixtures_root / "train/kit_harington/john1.jpeg", detector)
    # GIVEN four camera frames of somebody nobody has named: one review group
    answers = pipeline.recognise([(f"kit-{i}", camera_replay(image, box, rng)) for i in range(4)])
    assert all(a["result"] == "unknown" for a in answers.values())
    (group,) = recognizer.review.all_groups()

    # WHEN a person types a name in the group's field and presses Enter
    page.goto(f"{console}/review")
    field = page.locator(f'article[data-group="{group.group_id}"] input[name="name"]')
    expect(field).to_be_focused()  # the first group's field has the focus: typing names it
    expect(page.locator(f'article[data-group="{group.group_id}"] .crops img')).to_have_count(min(group.size, 6))
    page.keyboard.type("kit")
    page.keyboard.press("Enter")

    # THEN the review is empty and says what happened
    page.wait_for_url(f"{console}/review")
    expect(page.get_by_role("status")).to_have_text(f"New person kit, from {group.size} faces.")
    expect(page.locator("article.group")).to_have_count(0)
    settled(page)
    # AND a new frame of that person is answered with the name
    again = pipeline.recognise([("kit-next", camera_replay(image, box, random.Random(99)))])
    assert again["kit-next"]["result"] == "kit"
    # AND Activity draws the frames, each face under its name, linked to the person
    page.goto(f"{console}/activity")
    labels = page.locator("svg.overlay text.label")
    expect(labels).to_have_count(5)
    expect(labels.first).to_have_text("kit")
    person_id = again["kit-next"]["faces"][0]["person_id"]
    expect(page.locator(f'svg.overlay a[href="/people/{person_id}"]')).to_have_count(5)
    settled(page)
    pictures = page.locator("figure.frame-card img")
    assert pictures.evaluate_all("images => images.map(img => img.naturalWidth)") == [640] * 5


def test_console_review_keys_move_between_groups_and_dismiss_after_a_confirm(page, console, pipeline, settings, fixtures_root, detector):
    recognizer = pipeline.recognizer
    rng = random.Random(3)
    frames = []
    for who, path in {"rose": "train/rose_leslie/img1.jpg", "alex": "train/alex_lacamoire/img1.jpg"}.items():
        image, box = camera_face(fixtures_root / path, detector)
        frames += [(f"{who}-{i}", camera_replay(image, box, rng)) for i in range(2)]
    pipeline.recognise(frames)
    groups = [g.group_id for g in recognizer.review.all_groups()]
    assert len(groups) == 2
    # the group's own page shows all its faces; the filters keep or drop groups by source
    page.goto(f"{console}/review/{groups[0]}")
    expect(page.locator("li.face img")).to_have_count(2)
    page.goto(f"{console}/review?order=size&source=door")
    expect(page.locator("article.group")).to_have_count(2)
    page.goto(f"{console}/review?source=elsewhere")
    expect(page.locator("article.group")).to_have_count(0)
    page.goto(f"{console}/review")
    settled(page)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))

    # WHEN Esc leaves the first group's field, j moves to the second group, d dismisses it
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    expect(page.locator(f'article[data-group="{groups[1]}"]')).to_be_focused()
    page.keyboard.press("d")

    # THEN after the confirm the group is erased and the first one is left
    page.wait_for_url(f"{console}/review")
    expect(page.get_by_role("status")).to_have_text("Dismissed 2 faces.")
    assert dialogs == ["Dismiss these 2 faces? They are erased."]
    assert [g.group_id for g in recognizer.review.all_groups()] == [groups[0]]
    expect(page.locator("article.group")).to_have_count(1)
    settled(page)


# --- a person -----------------------------------------------------------------------------


def test_console_merges_one_person_into_another_from_the_person_page(page, console, admin, fixtures_root, detector):
    biden = admin.enroll("biden", [("biden.jpg", portrait(fixtures_root, detector, "train/biden/biden.jpg"))]).person
    joe = admin.enroll("Joe B.", [("biden2.jpg", portrait(fixtures_root, detector, "train/biden/biden2.jpg"))]).person

    # WHEN Joe B.'s page merges him into biden (the name typed, offered by the datalist)
    page.goto(f"{console}/people/{joe.person_id}")
    expect(page.locator('datalist#people option[value="biden"]')).to_have_count(1)
    page.get_by_label("Merge into").fill("biden")
    page.get_by_role("button", name="Merge…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Merge Joe B. into biden?")
    page.get_by_role("button", name="Merge", exact=True).click()

    # THEN biden's page has both faces, and Joe B. is gone from People
    page.wait_for_url(f"{console}/people/{biden.person_id}")
    expect(page.get_by_role("status")).to_have_text("Merged Joe B. into biden: 2 faces now.")
    expect(page.locator("li.face")).to_have_count(2)
    assert admin.people.profile(joe.person_id).merged_into == biden.person_id
    page.goto(f"{console}/people")
    expect(page.locator("li.card .name")).to_have_text(["biden"])
    # AND Joe B.'s old address leads to biden
    page.goto(f"{console}/people/{joe.person_id}")
    assert urlsplit(page.url).path == f"/people/{biden.person_id}"
    settled(page)


def test_console_not_this_person_takes_the_face_away_and_the_same_frame_is_not_named_so(
    page, console, admin, pipeline, settings, fixtures_root, detector
):
    frame = portrait(fixtures_root, detector, "train/obama/obama.jpg")
    obama = admin.enroll("obama", [("obama.jpg", frame)]).person
    named = pipeline.recognise([("n-1", frame)])["n-1"]
    assert named["result"] == "obama"
    face_id = named["faces"][0]["face_id"]

    # WHEN obama's page says that face is not him
    page.goto(f"{console}/people/{obama.person_id}")
    expect(page.locator("li.face")).to_have_count(2)
    page.locator(f'li.face[data-face="{face_id}"]').get_by_role("button", name="Not this person").click()

    # THEN the face has left his page and waits in review
    page.wait_for_url(f"{console}/people/{obama.person_id}")
    expect(page.get_by_role("status")).to_have_text(f"Face {face_id[:8]} is not obama: it left them and waits in Review.")
    expect(page.locator(f'li.face[data-face="{face_id}"]')).to_have_count(0)
    expect(page.locator("li.face")).to_have_count(1)
    settled(page)
    # AND the same frame again is not named obama
    again = pipeline.recognise([("n-2", frame)])["n-2"]
    assert "obama" not in again["result"]
    page.goto(f"{console}/review")
    expect(page.locator("article.group")).to_have_count(1)
    settled(page)


def test_console_shows_a_name_with_markup_as_text(page, console, admin):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    person_id = "0123456789abcdef0123456789abcdef"
    admin.people.create_person(person_id, "somebody", "test")

    # WHEN a person is renamed to markup from their page
    page.goto(f"{console}/people/{person_id}")
    page.get_by_label("Name", exact=True).fill(SCRIPT)
    page.get_by_role("button", name="Rename").click()
    page.wait_for_url(f"{console}/people/{person_id}")

    # THEN every page shows it as text, and no script of it runs
    expect(page.get_by_role("heading", level=1)).to_have_text(SCRIPT)
    expect(page.get_by_role("status")).to_have_text(f"Renamed to {SCRIPT}.")
    page.goto(f"{console}/people")
    expect(page.locator("li.card .name")).to_have_text([SCRIPT])
    page.goto(f"{console}/review")
    expect(page.locator("datalist#people option")).to_have_count(1)
    assert page.locator("datalist#people option").get_attribute("value") == SCRIPT
    assert page.locator("script").count() == 0  # no group to review: no keyboard script either
    assert admin.people.get_person(person_id).name == SCRIPT
    assert dialogs == []


def test_console_refuses_a_post_without_the_csrf_token_and_changes_nothing(
    page, console, admin, pipeline, settings, fixtures_root, detector
):
    person_id = "fedcba9876543210fedcba9876543210"
    admin.people.create_person(person_id, "kept", "test")
    image, box = camera_face(fixtures_root / "train/rose_leslie/img1.jpg", detector)
    pipeline.recognise([("r-1", camera_replay(image, box, random.Random(1)))])
    (group,) = admin.review.all_groups()
    page.goto(f"{console}/people/{person_id}")  # the browser holds the CSRF cookie

    renamed = page.request.post(f"{console}/people/{person_id}/rename", form={"name": "changed"})
    named = page.request.post(f"{console}/review/{group.group_id}/name", form={"name": "rose", "action": "new"})
    dismissed = page.request.post(f"{console}/review/{group.group_id}/dismiss", form={"csrf_token": "0" * 64})
    erased = page.request.post(f"{console}/people/{person_id}/delete", form={}, max_redirects=0)

    assert (renamed.status, named.status, dismissed.status, erased.status) == (403, 403, 403, 403)
    assert "security token" in renamed.text()
    assert admin.people.get_person(person_id).name == "kept"
    assert [g.group_id for g in admin.review.all_groups()] == [group.group_id]
    assert [p.name for p in admin.people.list_people()] == ["kept"]
    settled(page)


# --- people -------------------------------------------------------------------------------


def test_console_people_pages_through_everyone_with_search_and_filter(page, console, admin):
    people = admin.people
    for i in range(60):
        people.create_person(f"{i:032x}", f"page-{i:02d}", "test")
    for i in range(3):
        person_id = f"{1000 + i:032x}"
        people.create_person(person_id, keys.generated_name(person_id), "test")

    page.goto(f"{console}/people")
    first = page.locator("li.card").all()
    assert len(first) == PAGE_SIZE
    expect(page.locator("li.card .name").first).to_have_text("page-00")
    page.get_by_role("link", name="Next →").click()
    second = page.locator("li.card .name").all_text_contents()
    assert second == [f"page-{i:02d}" for i in range(PAGE_SIZE, 60)] + ["unnamed"] * 3
    expect(page.get_by_role("link", name="Next →")).to_have_count(0)
    page.get_by_role("link", name="← Previous").click()
    expect(page.locator("li.card .name").first).to_have_text("page-00")
    expect(page.locator("li.card")).to_have_count(PAGE_SIZE)
    expect(page.get_by_role("link", name="← Previous")).to_have_count(0)

    page.get_by_role("searchbox").fill("PAGE-5")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("li.card .name")).to_have_text([f"page-5{i}" for i in range(10)])
    page.goto(f"{console}/people?named=unnamed")
    expect(page.locator("li.card .name")).to_have_text(["unnamed"] * 3)
    page.goto(f"{console}/people?named=named&q=page-0")
    expect(page.locator("li.card")).to_have_count(10)
    broken = page.goto(f"{console}/people?after=not-a-cursor")
    assert broken.status == 400


def test_console_streams_kept_crops_and_answers_404_without_one(page, console, admin, fixtures_root, detector):
    report = admin.enroll("biden", [("biden.jpg", portrait(fixtures_root, detector, "train/biden/biden.jpg"))])
    (face_id,) = report.faces

    crop = page.request.get(f"{console}/crops/{face_id}.jpg")
    missing = page.request.get(f"{console}/crops/{'0' * 32}.jpg")
    odd = page.request.get(f"{console}/crops/..%2Ffaces%2F{face_id}.jpg")

    assert crop.status == 200
    assert crop.headers["content-type"] == "image/jpeg"
    assert crop.body()[:2] == b"\xff\xd8"
    assert (missing.status, odd.status) == (404, 404)
    page.goto(f"{console}/people")
    cover = page.locator("li.card img")
    expect(cover).to_have_count(1)
    assert re.fullmatch(r"/people/[0-9a-f]{32}/face\.jpg", urlsplit(cover.get_attribute("src")).path)
    settled(page)
    assert cover.evaluate("img => img.naturalWidth") > 0
