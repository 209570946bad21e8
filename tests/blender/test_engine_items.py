"""The engine choices offered in the UI are exactly the engines the pass renderer knows."""

from blender_addon.export.passes import ENGINES
from blender_addon.properties import ENGINE_ITEMS


def test_engine_items_are_the_pass_renderers_engines():
    assert [item[0] for item in ENGINE_ITEMS] == list(ENGINES)
    for identifier, _, description in ENGINE_ITEMS:
        for name in ENGINES[identifier][1]:
            assert name in description.lower()  # the description names every pass the engine gives
