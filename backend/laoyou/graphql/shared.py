"""Subscription events whose execution many subscribers may share.

GraphQL executes a subscription's selection set once per event and subscriber. When a thousand phones
watch the same conversations, most of them would build the very same answer from the very same event.
A payload may take part by defining `shared_execution(executor, execute)`: it decides whether (and with
whom) the result can be shared, and runs `execute(executor)` itself when it must. Payloads without it,
and every query and mutation, are executed exactly as before.
"""

from __future__ import annotations

from typing import Any


class SharedEvents:
    """Executor mixin: a subscription event's payload may reuse a result built for another subscriber.

    Mixed into the schema's execution context class (graphql/execution.py), before graphql-core's executor.
    """

    def execute_operation(self, serially: bool | None = None) -> Any:
        share = getattr(self.root_value, "shared_execution", None)  # type: ignore[attr-defined]
        if share is None or serially:
            return super().execute_operation(serially)  # type: ignore[misc]
        parent = super(SharedEvents, type(self))  # the executor's own execute_operation, for whoever runs it
        return share(self, lambda executor: parent.execute_operation(executor, serially))
