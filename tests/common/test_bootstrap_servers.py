"""A comma-separated KAFKA_BOOTSTRAP_SERVERS (a cluster) reaches the clients as a list.

FastStream (and aiokafka's admin client) take a single string as one address: before this rule
the three-node cluster's `127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094` was looked up as one
host name and no service could connect (tests/cluster shows it on the real cluster).
"""

from __future__ import annotations

from services.common.kafka import bootstrap_list, make_broker


def test_a_comma_separated_list_is_split_into_addresses() -> None:
    assert bootstrap_list(" 127.0.0.1:1, 127.0.0.1:2,127.0.0.1:3 ,") == [
        "127.0.0.1:1",
        "127.0.0.1:2",
        "127.0.0.1:3",
    ]


def test_the_broker_is_given_each_address_of_a_cluster() -> None:
    broker = make_broker("127.0.0.1:1,127.0.0.1:2", client_id="test")
    assert broker._connection_kwargs["bootstrap_servers"] == ["127.0.0.1:1", "127.0.0.1:2"]


def test_a_single_address_stays_one_address() -> None:
    broker = make_broker("127.0.0.1:9092", client_id="test")
    assert broker._connection_kwargs["bootstrap_servers"] == ["127.0.0.1:9092"]
