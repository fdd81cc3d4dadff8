"""What makes the Kafka topics readable by tools that are not ours: the schema registry (Confluent
REST API) and its wire format, the dead-letter topic of the events topic, and the AsyncAPI
document of every topic the product writes."""
