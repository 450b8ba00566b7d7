from vapi_mcp.cli import main

raise SystemExit(main())
