"""The egress policy of tests that build delivery's senders themselves: the local sinks, fakes and
MX hosts listen on loopback addresses (127.0.0.x) and unprivileged ports, which the policy refuses
unless allowed. (That allows RabbitMQ's and PostgreSQL's ports too: the security tests build their
own policies, without it, to show the refusals.)"""

from shared.egress import EgressPolicy

LOCAL_SINKS = EgressPolicy.from_entries(["127.0.0.0/8:1024-65535"])
