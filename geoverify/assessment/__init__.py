"""The monthly and quarterly assessment of grid members, and its export as CSV and XLSX."""
