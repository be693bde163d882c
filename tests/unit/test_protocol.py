from __future__ import annotations

import numpy as np
import orjson
import pytest

from hubserve.protocol import SHAPE_HEADER, array_from_wire, array_to_wire


@pytest.mark.parametrize("shape", [(3, 5), (1, 384), (0, 8), (4,)])
def test_arrays_cross_as_float32_bytes(shape: tuple[int, ...]) -> None:
    array = np.random.default_rng(0).standard_normal(shape)  # float64 in: float32 out
    content, headers = array_to_wire(array)
    assert len(content) == 4 * array.size
    back = array_from_wire(content, headers[SHAPE_HEADER])
    assert back.shape == shape and back.dtype == np.float32
    np.testing.assert_array_equal(back, array.astype(np.float32))


def test_a_row_of_the_batch_writes_the_same_json_numbers_as_the_float32_values() -> None:
    array = np.asarray([[0.1, -2.5e-8, 3.0]], dtype=np.float32)
    content, headers = array_to_wire(array)
    row = array_from_wire(content, headers[SHAPE_HEADER])[0:1].copy()
    parsed = orjson.loads(orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY))
    assert np.asarray(parsed, dtype=np.float32).tobytes() == array.tobytes()
