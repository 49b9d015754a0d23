"""Service processes in tests: `tools.stack.processes.ServiceProcess`, the one the demo, the bench
and the chaos run start, with both of its fixes (a start that lost RabbitMQ is retried once; the
end of the log is in every error) and dying with the test session.

    process = ServiceProcess("scheduler", free_port(), env, logs_dir / "scheduler.log").start()
    ...
    assert process.stop() in (0, -signal.SIGTERM)
"""

from tools.stack.processes import ServiceExited, ServiceFailed, ServiceProcess

__all__ = ["ServiceExited", "ServiceFailed", "ServiceProcess"]
