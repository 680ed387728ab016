"""podcast"""
