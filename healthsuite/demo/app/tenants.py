"""The salons the demo's booking platform serves (its pages and its booking API check the tenant)."""

TENANTS = ("instylehairboutique",)
