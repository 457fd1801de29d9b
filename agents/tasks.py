"""Celery tasks of the agents app: thin wrappers that take ids and call one service."""
from celery import shared_task


@shared_task(name="agents.run_execute", ignore_result=True, acks_late=False)
def agent_run_execute_task(run_id: int) -> None:
    """Run one queued agent run. Not acked late: a run is claimed once, and a lost worker must not redo writes."""
    from .runner.loop import agent_run_execute

    agent_run_execute(run_id=run_id)


@shared_task(name="agents.runs_requeue_stale", ignore_result=True)
def agent_runs_requeue_stale_task() -> int:
    """Beat: queue again the runs whose message was lost (still queued after a couple of minutes), and close as
    failed the runs whose worker died (still running long after the runner's own time bound)."""
    from .runner.services import agent_runs_close_abandoned, agent_runs_requeue_stale

    return agent_runs_requeue_stale() + agent_runs_close_abandoned()


@shared_task(name="agents.trigger_delivery_process", ignore_result=True)
def trigger_delivery_process_task(delivery_id: int) -> None:
    """Act on one trigger delivery when it is due (run the agent, or deliver the signed callback)."""
    from .triggers.fire import trigger_delivery_process

    trigger_delivery_process(delivery_id=delivery_id)


@shared_task(name="agents.trigger_deliveries_sweep", ignore_result=True)
def trigger_deliveries_sweep_task() -> int:
    """Beat: process open deliveries past their due time (lost messages, callback retries, business-hours openings)."""
    from .triggers.fire import trigger_deliveries_sweep

    return trigger_deliveries_sweep()
