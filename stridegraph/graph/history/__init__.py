"""Security history, notification choices and data exports."""
