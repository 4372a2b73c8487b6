"""Bad input gets a clear error that names the file and says what was expected."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from planwatch.extract import PlanTextError, parse_plan, read_plan_text, run_extract

FIXTURE = Path(__file__).parent / "fixtures/extract/jiangchuan-2026-2030.md"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_an_empty_file_is_refused_with_what_was_expected(tmp_path):
    path = write(tmp_path, "empty.md", b"")
    with pytest.raises(PlanTextError) as e:
        read_plan_text(path)
    message = str(e.value)
    assert str(path) in message and "empty" in message and "第N条" in message


def test_a_file_of_whitespace_only_is_refused(tmp_path):
    path = write(tmp_path, "blank.md", b" \n\n\t\n")
    with pytest.raises(PlanTextError, match="empty"):
        read_plan_text(path)


def test_a_binary_file_with_nul_bytes_is_refused(tmp_path):
    path = write(tmp_path, "data.bin", b"\x00\x01\x02\x03plan\x00\x00" * 50)
    with pytest.raises(PlanTextError) as e:
        read_plan_text(path)
    assert str(path) in str(e.value) and "binary" in str(e.value) and "UTF-8" in str(e.value)


@pytest.mark.parametrize(
    "magic, what",
    [(b"%PDF-1.7\n", "PDF"), (b"PK\x03\x04", "ZIP"), (b"\x89PNG\r\n\x1a\n", "PNG")],
)
def test_a_known_binary_format_is_named(tmp_path, magic, what):
    path = write(tmp_path, "plan.md", magic + b"\x10\x20" * 100)
    with pytest.raises(PlanTextError, match=what):
        read_plan_text(path)


def test_random_bytes_are_refused_even_without_nul(tmp_path):
    rng = random.Random(3)
    data = bytes(rng.choice(range(1, 256)) for _ in range(4000))
    path = write(tmp_path, "noise.md", data)
    with pytest.raises(PlanTextError) as e:
        read_plan_text(path)
    assert str(path) in str(e.value)


def test_a_text_with_no_articles_is_refused(tmp_path):
    path = write(
        tmp_path, "notes.md", "# 会议纪要\n\n今天讨论了绿道建设，到2025年建成绿道1000公里。\n".encode()
    )
    with pytest.raises(PlanTextError) as e:
        run_extract(path)
    message = str(e.value)
    assert str(path) in message and "expected articles headed 第N条" in message
    with pytest.raises(PlanTextError, match="第N条"):
        parse_plan("只有一段文字。")


def test_a_gb18030_file_is_decoded(tmp_path):
    text = FIXTURE.read_text(encoding="utf-8")
    path = write(tmp_path, "plan-gb18030.md", text.encode("gb18030"))
    assert read_plan_text(path) == text
    result = run_extract(path)
    assert [a["number"] for a in result["articles"]] == list(range(1, 9))


def test_a_gbk_file_is_decoded_as_gb18030(tmp_path):
    text = "第1条　目标\n到2030年全市常住人口控制在120万人以内。\n"
    path = write(tmp_path, "plan-gbk.txt", text.encode("gbk"))
    assert read_plan_text(path) == text


def test_utf8_with_bom_and_windows_line_ends(tmp_path):
    path = write(tmp_path, "bom.md", "\ufeff第1条　目标\r\n到2030年建成绿道50公里。\r\n".encode())
    text = read_plan_text(path)
    assert text == "第1条　目标\n到2030年建成绿道50公里。\n"


def test_utf16_with_a_byte_order_mark_is_decoded(tmp_path):
    path = write(tmp_path, "utf16.md", "第1条　目标\n到2030年建成绿道50公里。\n".encode("utf-16"))
    assert read_plan_text(path).startswith("第1条")


@pytest.mark.parametrize(
    "data",
    [
        "第1条 目标 ".encode() + b"\x81\x20\xff\xfe\x80",  # neither UTF-8 nor GB18030
        "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e".encode("cp1252"),  # Latin-1 text
    ],
)
def test_bytes_in_no_supported_encoding_are_refused(tmp_path, data):
    path = write(tmp_path, "latin.md", data)
    with pytest.raises(PlanTextError) as e:
        read_plan_text(path)
    message = str(e.value)
    assert str(path) in message and "UTF-8" in message and "GB18030" in message


def test_a_missing_file_and_a_folder_are_refused(tmp_path):
    with pytest.raises(PlanTextError, match="no such file"):
        read_plan_text(tmp_path / "missing.md")
    with pytest.raises(PlanTextError, match="folder"):
        read_plan_text(tmp_path)


def test_valid_utf8_full_of_control_characters_is_refused_as_binary(tmp_path):
    path = write(tmp_path, "controls.md", bytes(range(1, 32)) * 20)
    with pytest.raises(PlanTextError, match="binary"):
        read_plan_text(path)


def test_utf8_text_in_other_scripts_is_accepted_as_text(tmp_path):
    path = write(tmp_path, "mixed.md", "Пример —第1条　目标\n到2030年建成绿道50公里。\n".encode())
    assert read_plan_text(path).startswith("Пример")
