"""The look names both halves use (contract/looks.py): what the worker's --appearance and the
add-on's Look setting accept and write."""

import argparse

import pytest

from neural_core.commands.render import add_pixel_arguments
from neural_core.contract.errors import NeuralFaceError
from neural_core.contract.looks import look_argument, look_name, parse_look


def test_each_look_reads_back_as_it_is_written():
    for kind, number, spelt in (("seed", 0, 0), ("seed", 7, 7), ("mean", 0, "mean"), ("typical", 0, "typical"),
                                ("frame", 12, "frame:12")):
        assert look_name(kind, number) == spelt
        assert parse_look(spelt) == (kind, number) and parse_look(str(spelt)) == (kind, number)
    assert parse_look("-3") == ("seed", -3)


@pytest.mark.parametrize("bad", ["brightest", "frame:", "frame:-1", "frame:x", ""])
def test_a_bad_look_is_one_clear_error(bad):
    with pytest.raises(NeuralFaceError, match="bad appearance"):
        parse_look(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="use a seed"):
        look_argument(bad)
    with pytest.raises(NeuralFaceError, match="bad appearance True"):
        parse_look(True)


def test_look_name_refuses_what_parse_look_would_not_read():
    with pytest.raises(NeuralFaceError, match="frames count from 0"):
        look_name("frame", -1)
    with pytest.raises(NeuralFaceError, match="unknown look 'brightest'"):
        look_name("brightest")


def test_the_workers_appearance_option_takes_every_look():
    parser = argparse.ArgumentParser()
    add_pixel_arguments(parser)
    for text, value in (("5", 5), ("mean", "mean"), ("typical", "typical"), ("frame:3", "frame:3")):
        assert parser.parse_args(["--appearance", text]).appearance == value
    assert parser.parse_args([]).appearance == 0
