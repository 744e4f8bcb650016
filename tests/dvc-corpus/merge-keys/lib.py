print('lib')
