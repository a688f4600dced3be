"""The world the agent acts in: problems (`problem`, `problems`), program states (`program`),
locations in programs (`locations`), diffs (`diff`), the lint gate (`lint`), the sandbox
(`sandbox`) and scoring (`scoring`). Imports neither policies nor agent."""
