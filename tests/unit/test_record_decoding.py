"""Records kafka-python cannot decode (:mod:`labkit.kafka.corrupt`), without a broker: a batch built
by kafka-python's own builder, read by its own fetcher code, before and after the lenient patch."""

from __future__ import annotations

import inspect
import pickle

import pytest
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from kafka.structs import TopicPartition

from labkit.dlt.envelope import DltEnvelope, SourceCoords, build_dlt_record
from labkit.errors import classify, describe, error_label
from labkit.kafka import corrupt
from labkit.kafka.corrupt import CorruptRecord, UndecodableHeaderKey
from tests.raw_records import BAD_KEY, RawHeaderKey

TP = TopicPartition("orders", 3)


def batch(records, base_offset: int = 0) -> bytes:
    """One v2 batch of ``(key, value, headers)`` records, as a broker stores it."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for i, (key, value, headers) in enumerate(records):
        builder.append(i, timestamp=1_700_000_000_000 + i, key=key, value=value, headers=headers)
    data = bytearray(builder.build())
    data[0:8] = base_offset.to_bytes(8, "big")  # the broker assigns the base offset
    return bytes(data)


THREE = [(b"A", b'{"orderId":"A","amount":1}', []),
         (b"BAD", b'{"orderId":"BAD","amount":2}', [("trace", b"t1"), (RawHeaderKey(BAD_KEY), b"v")]),
         (b"C", b'{"orderId":"C","amount":3}', [("ok", b"1")])]


def fetch(data: bytes, fetch_offset: int = 0) -> list:
    """What kafka-python's fetcher hands to poll() for this fetched data (check_crcs on)."""
    part = Fetcher.PartitionRecords(fetch_offset, TP, MemoryRecords(data))
    return part.take()


@pytest.fixture
def unpatched(monkeypatch):
    """kafka-python as shipped, for the reproduction."""
    monkeypatch.setattr(DefaultRecordBatch, "_read_msg", corrupt.original_read_msg())


# --- the kafka-python names the patch and the locator depend on ------------------------------------


def test_the_patched_kafka_python_names_still_exist():
    # a kafka-python upgrade that renames these turns the patch into a silent no-op: fail here instead
    assert callable(getattr(DefaultRecordBatch, "_read_msg", None))
    original = inspect.getsource(corrupt.original_read_msg())
    assert 'h_key = buffer[pos: pos + h_key_len].decode("utf-8")' in original  # the strict decode
    assert "self._pos = pos" in original  # a failed read leaves _pos on the record: it can be read again
    assert "_next_partition_records" in inspect.getsource(Fetcher.__init__)
    assert "topic_partition" in inspect.getsource(Fetcher.PartitionRecords.__init__)


def test_install_patches_once_and_keeps_the_original():
    corrupt.install()
    patched = DefaultRecordBatch._read_msg
    corrupt.install()
    assert DefaultRecordBatch._read_msg is patched and corrupt.installed()
    assert patched.__wrapped__ is corrupt.original_read_msg()


def test_every_labkit_consumer_and_reader_gets_the_patch(unpatched, monkeypatch):
    from labkit.kafka import clients
    from labkit.settings import load

    monkeypatch.setattr(clients, "KafkaConsumer", lambda *topics, **config: config)  # no network
    assert not corrupt.installed()
    clients.reader(load(bootstrap_servers="127.0.0.1:1"))
    assert corrupt.installed()


# --- the reproduction, then the fix -----------------------------------------------------------------


def test_unpatched_kafka_python_cannot_return_any_record_at_or_after_a_bad_header_key(unpatched):
    data = batch(THREE)
    part = Fetcher.PartitionRecords(0, TP, MemoryRecords(data))
    assert [r.key for r in part.take()] == [b"A"]  # what came before it
    with pytest.raises(CorruptRecordError, match="UnicodeDecodeError"):
        part.take()
    assert part.take() == []  # the generator is dead, but not drained: poll() would spin on it
    with pytest.raises(CorruptRecordError):  # a fetch from the record behind it gets the whole batch again
        fetch(data, fetch_offset=2)


def test_patched_every_record_comes_back_and_the_bad_one_is_flagged():
    corrupt.install()
    records = fetch(batch(THREE, base_offset=40))
    assert [(r.offset, r.key) for r in records] == [(40, b"A"), (41, b"BAD"), (42, b"C")]
    a, bad, c = records
    assert corrupt.corruption(a) is None and corrupt.corruption(c) is None
    assert type(c.headers[0][0]) is str and c.headers == [("ok", b"1")]  # good records: kafka-python's own path
    name, value = bad.headers[1]
    assert isinstance(name, UndecodableHeaderKey) and name.raw == BAD_KEY and value == b"v"
    assert bad.headers[0] == ("trace", b"t1")
    assert name == "\\xff\\xfe" and name.encode("utf-8") == b"\\xff\\xfe"  # printable, loggable, encodable
    assert (bad.value, bad.timestamp) == (b'{"orderId":"BAD","amount":2}', 1_700_000_000_001)

    error = corrupt.corruption(bad)
    assert isinstance(error, CorruptRecord) and error_label(error) == "CorruptRecord"
    assert classify(error) == "permanent"
    assert (error.topic, error.partition, error.offset) == ("orders", 3, 41)
    assert "header key #1" in str(error) and "not UTF-8" in str(error) and "0xff" in str(error)
    assert describe(error).startswith("CorruptRecord: ")
    assert pickle.loads(pickle.dumps(name)).raw == BAD_KEY


def test_a_record_behind_a_bad_one_in_the_same_batch_can_be_fetched_on_its_own():
    corrupt.install()
    assert [r.key for r in fetch(batch(THREE), fetch_offset=2)] == [b"C"]


def test_other_corruption_still_raises():
    corrupt.install()
    data = bytearray(batch([(b"k", b"v", [])]))
    data[-1] = 10  # the header count (zigzag varint): 5 headers announced, none there
    with pytest.raises(CorruptRecordError, match="crc"):  # a damaged batch is never read leniently
        fetch(bytes(data))
    part = Fetcher.PartitionRecords(0, TP, MemoryRecords(bytes(data)), check_crcs=False)
    with pytest.raises(CorruptRecordError, match="invalid record structure"):  # nor a damaged record
        part.take()


# --- the DLT record of a record that could not be read at all ---------------------------------------


def test_an_unreadable_record_gets_a_metadata_only_dlt_record():
    cause = CorruptRecordError("Found invalid record structure: IndexError('index out of range')")
    error = CorruptRecord.unreadable("orders", 2, 17, cause)
    assert error.__cause__ is cause and (error.topic, error.partition, error.offset) == ("orders", 2, 17)
    assert "orders-2@17" in str(error) and "IndexError" in str(error)
    dlt = build_dlt_record(SourceCoords.unreadable_at("orders", 2, 17), error, group_id="g", now=0)
    envelope = DltEnvelope.from_json(dlt.value)
    assert envelope == dlt.envelope
    assert (envelope.original_topic, envelope.original_partition, envelope.original_offset) == ("orders", 2, 17)
    assert envelope.error_type == "CorruptRecord" and envelope.original_record_unreadable
    assert envelope.original_key is None and envelope.original_value is None and dlt.key is None
    assert envelope.to_dict()["originalRecordUnreadable"] is True
    assert "CorruptRecordError" in dict(dlt.headers)["kafka_dlt-exception-cause-fqcn"].decode()


def test_a_readable_record_has_no_unreadable_flag_on_the_wire():
    dlt = build_dlt_record(SourceCoords("orders", 0, 1, b"k", b"v"), ValueError("x"), group_id=None, now=0)
    assert "originalRecordUnreadable" not in dlt.envelope.to_dict()
    assert not DltEnvelope.from_json(dlt.value).original_record_unreadable
