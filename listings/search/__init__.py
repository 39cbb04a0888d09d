"""Full-text search of live listings: the search document (services), the query (selectors), the API."""
