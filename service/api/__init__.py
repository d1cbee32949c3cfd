"""The FastAPI app: live analytics from the marts, stored reports, organizations, scheduler."""
