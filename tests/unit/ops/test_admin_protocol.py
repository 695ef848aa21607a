"""The admin socket's wire format: what decodes, what is refused and with which code, and the
exact shape of the answers."""

from __future__ import annotations

import pytest

from algotrading.ops.admin.catalog import (
    COMMANDS,
    NoArgs,
    ReasonArgs,
    ResetArgs,
    SetLimitArgs,
    command_info,
)
from algotrading.ops.admin.protocol import (
    MAX_DEPTH,
    MAX_INT,
    AdminError,
    ErrorCode,
    Request,
    decode_args,
    decode_request,
    decode_response,
    encode_request,
    error,
    ok,
)


def refusal(line: bytes) -> AdminError:
    with pytest.raises(AdminError) as caught:
        decode_request(line)
    return caught.value


def test_a_request_decodes_with_any_id_and_default_args():
    assert decode_request(b'{"id": 7, "cmd": "status"}') == Request(cmd="status", id=7, args={})
    assert decode_request(b'{"cmd": "pause", "args": {"reason": "x"}}').args == {"reason": "x"}
    for raw, value in ((b'"abc"', "abc"), (b"null", None), (b'{"a": [1]}', {"a": [1]})):
        assert decode_request(b'{"cmd": "status", "id": ' + raw + b"}").id == value
    assert decode_request(b' {"cmd": "status"} \r').cmd == "status"  # CRLF and spaces


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"", "not valid JSON"),
        (b"status", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"cmd": "st\xc3\x28"}', "not valid JSON"),  # invalid UTF-8 in a string
        (b"[1, 2]", "got an array"),
        (b'"status"', "got a string"),
        (b"42", "got a number"),
        (b"true", "got a boolean"),
        (b"null", "got null"),
        (b'{"id": 1}', "missing required field `cmd`"),
        (b'{"cmd": 5}', "Expected `str`, got `int`"),
        (b'{"cmd": "status", "args": []}', "Expected `object`, got `array`"),
        (b'{"cmd": "status", "verbose": true}', "unknown field `verbose`"),
    ],
)
def test_what_is_not_a_request_is_a_bad_request(line, expected):
    problem = refusal(line)
    assert problem.code is ErrorCode.BAD_REQUEST
    assert expected in problem.message


def test_a_bad_request_keeps_its_id_when_it_has_one():
    assert refusal(b'{"id": "q1", "cmd": 5}').request_id == "q1"
    assert refusal(b'{"id": 2, "cmd": "status", "x": 1}').request_id == 2
    assert refusal(b"[1]").request_id is None


def test_answers_have_one_exact_shape():
    assert ok(1, {"a": 1}) == b'{"id":1,"ok":true,"result":{"a":1}}\n'
    assert ok(None, {}) == b'{"id":null,"ok":true,"result":{}}\n'
    assert error("x", ErrorCode.REFUSED, "no") == (
        b'{"id":"x","ok":false,"error":{"code":"refused","message":"no"}}\n'
    )
    assert ok(3, {"nan": float("nan")}) == b'{"id":3,"ok":true,"result":{"nan":null}}\n'


def test_a_request_and_its_answer_round_trip():
    line = encode_request("set-limit", {"name": "max_open_orders", "value": 3}, request_id="r")
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert decode_request(line[:-1]) == Request(
        cmd="set-limit", id="r", args={"name": "max_open_orders", "value": 3}
    )
    answer = decode_response(error("r", ErrorCode.BAD_ARGUMENT, "bad")[:-1])
    assert answer.ok is False
    assert answer.error is not None
    assert (answer.error.code, answer.error.message) == ("bad_argument", "bad")
    assert decode_response(ok(1, {"x": [1]})[:-1]).result == {"x": [1]}


@pytest.mark.parametrize(
    ("kind", "args", "expected"),
    [
        (NoArgs, {"x": 1}, "unknown field `x`"),
        (ReasonArgs, {"reason": 5}, "Expected `str`, got `int`"),
        (ResetArgs, {"breaker": None}, "Expected `str`, got `null`"),
        (SetLimitArgs, {"name": "max_open_orders"}, "missing required field `value`"),
        (SetLimitArgs, {"name": "max_open_orders", "value": True}, "got `bool`"),
        (SetLimitArgs, {"name": "max_open_orders", "value": [1]}, "got `array`"),
        (SetLimitArgs, {"name": 1, "value": 1}, "Expected `str`, got `int`"),
    ],
)
def test_wrong_arguments_are_bad_arguments(kind, args, expected):
    with pytest.raises(AdminError) as caught:
        decode_args("cmd", args, kind)
    assert caught.value.code is ErrorCode.BAD_ARGUMENT
    assert caught.value.message.startswith("cmd: ")
    assert expected in caught.value.message


def test_arguments_decode_to_their_struct():
    assert decode_args("x", {}, ReasonArgs) == ReasonArgs(reason="")
    assert decode_args("x", {"name": "a", "value": 1.5}, SetLimitArgs).value == 1.5
    assert decode_args("x", {"name": "a", "value": "7"}, SetLimitArgs).value == "7"
    assert decode_args("x", {"name": "a", "value": 7}, SetLimitArgs).value == 7


def test_command_names_are_forgiving_about_case_and_underscores():
    assert command_info("cancel_all") is COMMANDS["cancel-all"]
    assert command_info(" Status ") is COMMANDS["status"]
    assert command_info("reload_config") is COMMANDS["reload-config"]
    assert command_info("rm") is None
    assert command_info("") is None
    changes = {name for name, c in COMMANDS.items() if c.changes_state}
    assert changes >= {"pause", "resume", "halt", "kill", "flatten", "set-limit", "shutdown"}
    assert not changes & {"status", "positions", "orders", "pnl", "help"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"cmd": "status", "args": {"a": ' + b"[" * 999 + b"]" * 999 + b"}}", "nested"),
        (b"[" * 100_000, "nested"),
        (b'{"a": ' * 20_000, "nested"),
        (b'{"cmd": "status", "id": ' + b"[" * 33 + b"]" * 33 + b"}", "nested"),
        (b'{"cmd": "status", "id": ' + b"9" * 30 + b"}", "64 bits"),
        (b'{"cmd": "status", "args": {"x": -' + b"9" * 5000 + b"}}", "out of range"),
        (b'{"cmd": "status", "id": 1e400}', "out of range"),
        (b'{"cmd": "status", "id": NaN}', "not valid JSON"),
        (b'{"cmd": "status", "id": -Infinity}', "not valid JSON"),
        (b'{"cmd": "status", "extra": 1}', "unknown field"),
    ],
)
def test_absurd_requests_are_bad_requests_not_crashes(line, expected):
    with pytest.raises(AdminError) as caught:
        decode_request(line)
    assert caught.value.code is ErrorCode.BAD_REQUEST
    assert expected in caught.value.message
    assert caught.value.request_id is None


def test_nesting_and_integers_within_the_limits_are_fine():
    nested = b"[" * (MAX_DEPTH - 2) + b"]" * (MAX_DEPTH - 2)
    request = decode_request(b'{"cmd": "status", "id": ' + nested + b"}")
    assert request.cmd == "status"
    assert decode_request(b'{"cmd": "x", "id": %d}' % MAX_INT).id == MAX_INT
    assert decode_request(b'{"cmd": "x", "id": %d}' % -MAX_INT).id == -MAX_INT
