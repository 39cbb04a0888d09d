"""Operations: queue overview (`/api/admin/queues`), readiness (`/readyz`), Prometheus (`/metrics`)."""
