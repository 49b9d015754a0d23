"""Run the whole of sendpool on this machine: the harness of `make demo`, `make bench`, `make chaos`
and the end-to-end tests.

A run gets its own PostgreSQL database and RabbitMQ virtual host, starts the five services as
`faststream run` processes (logs in `var/<run>/logs/`), and takes everything down again on the
way out. Local SMTP servers stand in for the sending servers, and one API client drives the
catalog and the scheduler over HTTP. One module per concern; import from the module:

- `run`: `Stack` (the services of a run, with replicas) and `running_stack` (a whole run);
- `processes`: `ServiceProcess`, one service as a process;
- `infra`: databases, virtual hosts, `rabbitmqctl`, queue depths;
- `ports`: `free_port`, `wait_for_port`;
- `sinks`: SMTP servers that count what they accept (aiosmtpd, Postfix's smtp-sink);
- `api`: `SendpoolApi`, the HTTP client, and its replies;
- `campaigns`: a tenant, servers, list and campaign set up, launched and waited for;
- `waiting`: `eventually`, the one polling helper (the tests' too);
- `errors`: `RunFailed`, `TimedOut`.
"""
