"""The history store contract on PostgreSQL and MariaDB."""
