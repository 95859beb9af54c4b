"""The stock dashboard's logic: backend client, view state, figures and charts (no Streamlit here)."""
