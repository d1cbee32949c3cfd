"""Call analytics service: warehouse access, dbt runner, report jobs, scheduler, CLI and API."""
