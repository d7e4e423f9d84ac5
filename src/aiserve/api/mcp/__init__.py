"""aiserve as an MCP server: the tools and the models resource (`tools`), served over Streamable HTTP at `/mcp`
behind the same keys, limits and ledger as the HTTP routes (`http`). `aiserve mcp` serves them on stdio."""
